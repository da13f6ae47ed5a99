package io.bonestream.job;

import io.bonestream.engine.TestFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The job.yaml of a run on the cluster: the test profile of {@link StreamingHarness#job} (bat r 4,
 * AdamW lr 1e-2, a step per 4 records, a version every 2 steps) reading a shared input topic,
 * with topics, consumer group, transactional ids, checkpoints and blobs of its own. Adapters named
 * {@code big-*} train every target at r 16 with bone, larger than the inline limit: claim checks.
 */
final class ClusterJobFiles {
  static final int INLINE_LIMIT = 64 * 1024;

  private ClusterJobFiles() {}

  static Path write(Path dir, String bootstrap, String inputTopic, String run) {
    Path runDir = dir.resolve(run);
    String yaml = """
        kafka:
          bootstrap-servers: %s
          group-id: %s
          transactional-id-prefix: %s
          transaction-timeout: 2m
          # a slow source: one record batch (one record: they were sent one by one) per partition
          # per fetch, a fetch every 50 ms, so the pre-loaded input arrives over seconds and the
          # faults land in the middle of training
          properties:
            fetch.min.bytes: "10485760"
            fetch.max.wait.ms: "50"
            max.partition.fetch.bytes: "1"
        topics:
          instructions: %s
          adapters: %s.adapters
          dead-letters: %s.dlq
        model: %s
        max-seq-len: 64
        checkpoints:
          dir: %s
          interval: 500ms
        blob-store: %s
        adapter-defaults:
          method: bat
          r: 4
          lr: 1.0e-2
          micro-batch-size: 4
        adapters:
          - match: "big-*"
            method: bone
            r: 16
        batching:
          max-examples: 4
        snapshots:
          every-steps: 2
          inline-limit: %d
        """.formatted(bootstrap, run, run, inputTopic, run, run, TestFiles.stories260K().toAbsolutePath(),
        runDir.resolve("checkpoints").toUri(), runDir.resolve("blobs").toUri(), INLINE_LIMIT);
    try {
      Files.createDirectories(runDir);
      Path file = runDir.resolve("job.yaml");
      Files.writeString(file, yaml);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
