package io.bonestream.serve;

import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * At most {@code concurrency} generations at once and at most {@code queue} requests waiting for
 * one: a request beyond both is refused at once ({@link Full}), a request that waited longer than
 * the wait bound is refused then ({@link TimedOut}). Nothing else on the server waits here, so
 * {@code /healthz} answers during a flood.
 */
final class ComputeSlots {
  private final Semaphore slots;
  private final int queue;
  private final long waitNanos;
  private final AtomicInteger waiting = new AtomicInteger();

  /** Refused at once: every slot busy and the queue full. */
  static final class Full extends Exception {
    Full() {
      super(null, null, false, false);
    }
  }

  /** Refused after waiting for a slot as long as allowed. */
  static final class TimedOut extends Exception {
    TimedOut() {
      super(null, null, false, false);
    }
  }

  ComputeSlots(int concurrency, int queue, Duration maxWait) {
    this.slots = new Semaphore(concurrency, true);
    this.queue = queue;
    this.waitNanos = maxWait.toNanos();
  }

  /** Takes a slot (release it with {@link #release}). */
  void acquire() throws Full, TimedOut, InterruptedException {
    if (slots.tryAcquire()) {
      return;
    }
    if (waiting.incrementAndGet() > queue) {
      waiting.decrementAndGet();
      throw new Full();
    }
    try {
      if (!slots.tryAcquire(waitNanos, TimeUnit.NANOSECONDS)) {
        throw new TimedOut();
      }
    } finally {
      waiting.decrementAndGet();
    }
  }

  void release() {
    slots.release();
  }
}
