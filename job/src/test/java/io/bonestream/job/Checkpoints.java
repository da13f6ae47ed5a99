package io.bonestream.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;

/** Reads the size of Flink's completed checkpoints from a file-system checkpoint directory. */
final class Checkpoints {
  private Checkpoints() {}

  /** Bytes of the newest completed checkpoint (a chk-N folder with _metadata) of a job. */
  static long latestSize(Path jobDir) throws Exception {
    for (int attempt = 0; attempt < 20; attempt++) {
      try (Stream<Path> dirs = Files.list(jobDir)) {
        Optional<Path> latest = dirs.filter(d -> d.getFileName().toString().startsWith("chk-"))
            .filter(d -> Files.exists(d.resolve("_metadata")))
            .max(Comparator.comparingLong(d -> Long.parseLong(d.getFileName().toString().substring(4))));
        if (latest.isPresent()) {
          long total = 0;
          try (Stream<Path> files = Files.walk(latest.get())) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
              total += Files.size(f);
              if (Boolean.getBoolean("bonestream.debugCheckpoints")) {
                System.err.println("checkpoint file " + f.getFileName() + " " + Files.size(f));
              }
            }
          }
          // shared/ and taskowned/ hold no files with the hashmap backend's full checkpoints
          return total;
        }
      } catch (IOException e) {
        // a checkpoint was being written or removed while listed: look again
      }
      Thread.sleep(200);
    }
    throw new IllegalStateException("no completed checkpoint in " + jobDir);
  }

  /** The number of the newest completed checkpoint (chk-N with _metadata) of a job, -1 if none. */
  static long latestId(Path jobDir) {
    try (Stream<Path> dirs = Files.list(jobDir)) {
      return dirs.filter(d -> d.getFileName().toString().startsWith("chk-"))
          .filter(d -> Files.exists(d.resolve("_metadata")))
          .mapToLong(d -> Long.parseLong(d.getFileName().toString().substring(4))).max().orElse(-1);
    } catch (IOException e) {
      return -1; // not there yet, or changing while listed
    }
  }

  /** Waits (a minute at most) for a completed checkpoint numbered above {@code id}; returns its number. */
  static long awaitNewerThan(Path jobDir, long id) throws InterruptedException {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.MINUTES.toNanos(1);
    while (true) {
      long latest = latestId(jobDir);
      if (latest > id) {
        return latest;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no checkpoint after chk-" + id + " in " + jobDir + " within a minute");
      }
      Thread.sleep(100);
    }
  }
}
