package io.bonestream.job.cluster;

import org.jspecify.annotations.Nullable;

/**
 * A job's checkpoint statistics ({@code GET /jobs/:id/checkpoints}): counts, the newest completed
 * checkpoint and savepoint (their external paths), and what the job restored from, if anything.
 */
public record CheckpointStats(long completed, long failed, long inProgress,
    @Nullable Long latestCompletedId, @Nullable String latestCompletedPath,
    @Nullable String latestSavepointPath, @Nullable String restoredPath) {}
