package io.bonestream.job.recovery;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;

/**
 * Stops a running job so that the next start continues exactly where it stopped: with a savepoint
 * (its Kafka transactions commit with it), or, when none completes in time, by cancelling the job,
 * which keeps its retained checkpoints (the next start replays from the newest one; the replay
 * gives the same versions and bytes).
 */
public final class GracefulStop {
  private GracefulStop() {}

  /** Stops {@code client}'s job; returns the restore point the next start will use, if known. */
  public static String stop(JobClient client, String checkpointDir, Duration timeout, PrintWriter out) {
    out.println("stopping: taking a savepoint (waiting at most " + timeout.toSeconds()
        + " s; Ctrl-C again stops at once) ...");
    out.flush();
    try {
      String savepoint = client.stopWithSavepoint(false, RestorePoints.savepointDir(checkpointDir),
          SavepointFormatType.CANONICAL).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      out.println("stopped with savepoint " + savepoint);
      out.flush();
      return savepoint;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      out.println("no savepoint (" + rootMessage(e) + "); cancelling the job, its checkpoints are retained");
      out.flush();
    }
    try {
      client.cancel().get(60, TimeUnit.SECONDS);
    } catch (Exception ignored) {
      // already gone
    }
    List<RestorePoint> points = RestorePoints.list(checkpointDir);
    String next = points.isEmpty() ? "none (the next start begins without state)" : points.get(0).path();
    out.println("stopped; the next start resumes from " + next);
    out.flush();
    return next;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t instanceof java.util.concurrent.TimeoutException ? "timed out"
        : t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage().split("\n")[0]);
  }
}
