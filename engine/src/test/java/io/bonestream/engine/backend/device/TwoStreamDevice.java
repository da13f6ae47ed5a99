package io.bonestream.engine.backend.device;

import io.bonestream.engine.device.Device;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Random;
import java.util.Set;

/**
 * A {@link Device} with a side stream, simulated on another device: every call that returns
 * nothing is queued on its stream (the side one inside {@link Device#onSide}), events are queue
 * markers, and the queues run only when a result is asked for: a download or a sum runs the main
 * queue to its end (side work only as far as the policy picks it or the main stream waits for it),
 * a free or synchronize both. Whenever both streams can go on, a policy picks: main first, side
 * first, or at random. Work ordered only by the events it awaits then runs in orders a GPU could
 * choose; a missing await shows as a different result (or as a deadlock, reported).
 */
final class TwoStreamDevice {
  enum Policy { MAIN_FIRST, SIDE_FIRST, RANDOM }

  /** Calls that depend on no queued work. */
  private static final Set<String> AT_ONCE = Set.of("describe", "alloc", "allocatedBytes", "peakAllocatedBytes",
      "resetPeak", "lossChunkElements");
  /** Calls that wait for both streams. */
  private static final Set<String> AFTER_BOTH = Set.of("synchronize", "close", "free");

  private static final class SimEvent implements Device.Event {
    int recorded; // records queued
    int done;     // records run
  }

  private interface Op {
    /** Runs it, or returns false when it must wait. */
    boolean tryRun() throws Exception;
  }

  private final Device inner;
  private final Policy policy;
  private final Random random;
  private final Deque<Op> main = new ArrayDeque<>();
  private final Deque<Op> side = new ArrayDeque<>();
  private boolean onSide;
  private int sideCalls;

  private TwoStreamDevice(Device inner, Policy policy, long seed) {
    this.inner = inner;
    this.policy = policy;
    this.random = new Random(seed);
  }

  /** A simulated two-stream device over {@code inner}; {@link #device()} is the device. */
  static TwoStreamDevice over(Device inner, Policy policy, long seed) {
    return new TwoStreamDevice(inner, policy, seed);
  }

  Device device() {
    return (Device) Proxy.newProxyInstance(Device.class.getClassLoader(), new Class<?>[] {Device.class},
        (proxy, method, args) -> invoke(method, args));
  }

  /** The calls queued on the side stream so far. */
  synchronized int sideCalls() {
    return sideCalls;
  }

  private synchronized Object invoke(Method method, Object[] args) throws Throwable {
    Deque<Op> queue = onSide ? side : main;
    switch (method.getName()) {
      case "hasSideStream":
        return true;
      case "onSide": {
        boolean was = onSide;
        onSide = true;
        try {
          ((Runnable) args[0]).run();
        } finally {
          onSide = was;
        }
        return null;
      }
      case "newEvent":
        return new SimEvent();
      case "record": {
        SimEvent e = (SimEvent) args[0];
        e.recorded++;
        queue.add(() -> {
          e.done++;
          return true;
        });
        return null;
      }
      case "await": {
        SimEvent e = (SimEvent) args[0];
        int until = e.recorded;
        queue.add(() -> e.done >= until);
        return null;
      }
      default:
        break;
    }
    if (AT_ONCE.contains(method.getName())) {
      return call(method, args);
    }
    if (AFTER_BOTH.contains(method.getName())) {
      run(true);
      return call(method, args);
    }
    if (method.getReturnType() == void.class) {
      Object[] copy = args == null ? null : args.clone();
      if (copy != null) {
        for (int i = 0; i < copy.length; i++) { // the caller may reuse its arrays
          if (copy[i] instanceof float[] f) {
            copy[i] = f.clone();
          } else if (copy[i] instanceof int[] n) {
            copy[i] = n.clone();
          }
        }
      }
      if (onSide) {
        sideCalls++;
      }
      queue.add(() -> {
        call(method, copy);
        return true;
      });
      return null;
    }
    // a result (download, sum of squares) waits for the main stream only, as on a GPU
    run(false);
    return call(method, args);
  }

  private Object call(Method method, Object[] args) throws Exception {
    try {
      return method.invoke(inner, args);
    } catch (InvocationTargetException e) {
      throw (Exception) e.getCause();
    }
  }

  /**
   * Runs the main queue (with {@code both}, both queues) to its end, choosing by the policy whenever
   * both streams can go on; side work left over stays queued.
   */
  private void run(boolean both) throws Exception {
    while (!main.isEmpty() || (both && !side.isEmpty())) {
      boolean mainReady = !main.isEmpty();
      boolean sideReady = !side.isEmpty();
      Deque<Op> first = switch (policy) {
        case MAIN_FIRST -> mainReady ? main : side;
        case SIDE_FIRST -> sideReady ? side : main;
        case RANDOM -> mainReady && sideReady ? (random.nextBoolean() ? main : side) : mainReady ? main : side;
      };
      Deque<Op> second = first == main ? side : main;
      if (first.peek().tryRun()) {
        first.poll();
      } else if (!second.isEmpty() && second.peek().tryRun()) {
        second.poll();
      } else {
        throw new IllegalStateException("both streams wait: a deadlock (" + main.size() + " main, " + side.size()
            + " side calls left)");
      }
    }
  }
}
