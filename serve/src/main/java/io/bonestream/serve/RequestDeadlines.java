package io.bonestream.serve;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The HTTP server's worker threads, each exchange bounded in time while it talks to the client.
 *
 * <p>A worker reads the request line, headers and body, computes, then writes the response. Reading
 * and writing must each finish within the timeout; computing has no deadline here (the compute
 * slots bound it). A worker past its deadline is interrupted, which closes its socket channel: a
 * client that sends half a request, or reads the response a byte a minute, holds a worker for at
 * most the timeout. (The JDK server's own {@code sun.net.httpserver.maxReqTime} is one setting for
 * the whole JVM, read once; this bound belongs to this server alone.)
 */
final class RequestDeadlines implements Executor, AutoCloseable {
  private final ExecutorService workers;
  private final ScheduledExecutorService watchdog;
  private final long timeoutNanos;
  private final Map<Thread, Watch> watches = new ConcurrentHashMap<>();

  /** One worker's deadline: armed while it reads or writes. */
  private static final class Watch {
    private boolean armed;
    private long deadline;
  }

  RequestDeadlines(int threads, Duration timeout, String name) {
    this.timeoutNanos = timeout.toNanos();
    AtomicInteger n = new AtomicInteger();
    this.workers = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, name + "-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name + "-deadlines");
      t.setDaemon(true);
      return t;
    });
    long tick = Math.max(20, Math.min(250, timeout.toMillis() / 10));
    watchdog.scheduleWithFixedDelay(this::interruptLate, tick, tick, TimeUnit.MILLISECONDS);
  }

  @Override
  public void execute(Runnable exchange) {
    workers.execute(() -> {
      Watch w = new Watch();
      arm(w);
      watches.put(Thread.currentThread(), w);
      try {
        exchange.run();
      } finally {
        synchronized (w) {
          w.armed = false;
        }
        watches.remove(Thread.currentThread());
        Thread.interrupted(); // a late interrupt must not reach the next exchange of this thread
      }
    });
  }

  /** The current worker stops talking to its client: no deadline until {@link #writing}. */
  void computing() {
    Watch w = watches.get(Thread.currentThread());
    if (w != null) {
      synchronized (w) {
        w.armed = false;
      }
    }
  }

  /** The current worker starts writing its response: a new deadline. */
  void writing() {
    Watch w = watches.get(Thread.currentThread());
    if (w != null) {
      arm(w);
    }
  }

  private void arm(Watch w) {
    synchronized (w) {
      w.deadline = System.nanoTime() + timeoutNanos;
      w.armed = true;
    }
  }

  private void interruptLate() {
    long now = System.nanoTime();
    watches.forEach((thread, w) -> {
      synchronized (w) {
        if (w.armed && now - w.deadline > 0) {
          w.armed = false;
          thread.interrupt(); // closes the channel it blocks on
        }
      }
    });
  }

  @Override
  public void close() {
    watchdog.shutdownNow();
    workers.shutdownNow();
  }
}
