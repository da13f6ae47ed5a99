package io.bonestream.job.recovery;

import java.time.Instant;
import org.jspecify.annotations.Nullable;

/**
 * A completed checkpoint or savepoint a job can restore from: a folder holding Flink's
 * {@code _metadata}.
 *
 * @param path the folder, as a URI ({@code file:/...}, {@code s3://...})
 * @param name {@code chk-42} or {@code savepoint-...}
 * @param jobId the job that wrote a checkpoint; null for savepoints
 * @param completedAt when its {@code _metadata} was written
 */
public record RestorePoint(String path, Kind kind, String name, @Nullable String jobId, Instant completedAt) {
  public enum Kind { CHECKPOINT, SAVEPOINT }

  /** "checkpoint chk-42 of job 9a3f..." or "savepoint savepoint-...". */
  public String describe() {
    return kind == Kind.CHECKPOINT
        ? "checkpoint " + name + " of job " + jobId
        : "savepoint " + name;
  }
}
