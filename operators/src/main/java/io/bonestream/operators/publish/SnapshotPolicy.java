package io.bonestream.operators.publish;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;

/**
 * When an adapter publishes a new version, and how: after every {@code everySteps} optimizer steps;
 * optionally also when {@code everyEventTimeMs} of event time passed since the last version;
 * optionally (breaking bit-identical recovery) every {@code everyWallClockMs} of wall time. A
 * version whose adapter files exceed {@code inlineLimitBytes} is written to the blob store
 * ({@code blobStoreUri}, any Flink file system URI) and the manifest carries a claim check.
 */
public record SnapshotPolicy(long everySteps, long everyEventTimeMs, long everyWallClockMs,
    int inlineLimitBytes, String blobStoreUri) implements Serializable {
  public static final int DEFAULT_INLINE_LIMIT = 512 * 1024;

  public SnapshotPolicy {
    if (everySteps <= 0 || everyEventTimeMs < 0 || everyWallClockMs < 0 || inlineLimitBytes < 0) {
      throw new BonestreamException("snapshot policy: every-steps must be positive, time spans and "
          + "the inline limit ≥ 0");
    }
    if (blobStoreUri == null || blobStoreUri.isBlank()) {
      throw new BonestreamException("snapshot policy: a blob store URI is required");
    }
  }
}
