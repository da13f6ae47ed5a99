package io.bonestream.serve;

import io.bonestream.subscriber.AdapterListener;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.AdapterVersion;
import io.bonestream.subscriber.RefusalReason;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * The training statistics of every version a registry accepted (not only the K versions it holds),
 * and what it refused, per adapter: what the status page plots. Bounded: the newest
 * {@code maxPointsPerAdapter} versions per adapter. Register it with
 * {@link AdapterRegistry#addListener}; thread-safe.
 */
public final class AdapterHistory implements AdapterListener {
  /** One accepted version's numbers, from its manifest. */
  public record Point(long version, Instant createdAt, long step, double lastLoss, double lossEma,
      @Nullable Double evalLoss) {}

  /** The last refusal of an adapter. */
  public record Refusal(long version, RefusalReason reason, String message) {}

  private static final class Adapter {
    final Deque<Point> points = new ArrayDeque<>();
    long refused;
    @Nullable Refusal lastRefusal;
  }

  private final int maxPointsPerAdapter;
  private final Map<String, Adapter> adapters = new TreeMap<>();

  public AdapterHistory(int maxPointsPerAdapter) {
    if (maxPointsPerAdapter < 1) {
      throw new IllegalArgumentException("maxPointsPerAdapter must be ≥ 1");
    }
    this.maxPointsPerAdapter = maxPointsPerAdapter;
  }

  @Override
  public synchronized void onUpdate(AdapterUpdate update) {
    Adapter a = adapters.computeIfAbsent(update.adapterId(), k -> new Adapter());
    if (update instanceof AdapterUpdate.Accepted acc) {
      AdapterVersion v = acc.adapter();
      a.points.addLast(new Point(v.version(), v.createdAt(), v.stats().getStep(), v.stats().getLastLoss(),
          v.stats().getLossEma(), v.stats().getEvalLoss()));
      while (a.points.size() > maxPointsPerAdapter) {
        a.points.removeFirst();
      }
    } else if (update instanceof AdapterUpdate.Refused r) {
      a.refused++;
      a.lastRefusal = new Refusal(r.version(), r.reason(), r.message());
    }
  }

  public synchronized List<Point> points(String adapterId) {
    Adapter a = adapters.get(adapterId);
    return a == null ? List.of() : new ArrayList<>(a.points);
  }

  public synchronized long refusedCount(String adapterId) {
    Adapter a = adapters.get(adapterId);
    return a == null ? 0 : a.refused;
  }

  public synchronized @Nullable Refusal lastRefusal(String adapterId) {
    Adapter a = adapters.get(adapterId);
    return a == null ? null : a.lastRefusal;
  }

  /** Every adapter seen, accepted or refused, in id order. */
  public synchronized List<String> adapterIds() {
    return new ArrayList<>(adapters.keySet());
  }
}
