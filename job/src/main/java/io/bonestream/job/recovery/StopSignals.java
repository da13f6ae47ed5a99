package io.bonestream.job.recovery;

import java.util.concurrent.atomic.AtomicLong;
import sun.misc.Signal;

/**
 * Ctrl-C (SIGINT) and SIGTERM as a request to stop cleanly: the first one runs a stop action on
 * its own thread while the process keeps running (a JVM shutdown hook would race the in-process
 * Flink runtime's own hooks, which close it under the savepoint); a second one ends the process at
 * once with exit code 130. A repeat within a second is taken as the same request (a terminal or a
 * process supervisor may signal the whole process group, delivering it twice).
 */
public final class StopSignals {
  private StopSignals() {}

  public static void install(Runnable onStop) {
    AtomicLong first = new AtomicLong();
    for (String name : new String[] {"INT", "TERM"}) {
      Signal.handle(new Signal(name), s -> {
        long now = System.nanoTime();
        if (first.compareAndSet(0, now)) {
          Thread t = new Thread(onStop, "bonestream-stop");
          t.setDaemon(false);
          t.start();
        } else if (now - first.get() > 1_000_000_000L) {
          System.err.println("stopping at once (the job resumes from its newest retained checkpoint)");
          Runtime.getRuntime().halt(130);
        }
      });
    }
  }
}
