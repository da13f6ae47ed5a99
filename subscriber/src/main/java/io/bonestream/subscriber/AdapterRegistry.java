package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jspecify.annotations.Nullable;

/**
 * The adapter versions an inference service holds. Versions are immutable and named
 * {@code adapter@version}; the alias {@code adapter} resolves to the pinned version if there is
 * one, else the latest accepted. The last {@code keep} versions of each adapter are held (a pinned
 * one is never dropped). Each adapter's state is one immutable value swapped atomically, so a
 * reader sees a version entirely or not at all.
 */
public final class AdapterRegistry {
  /** One adapter's held versions and pin, replaced as a whole on every change. */
  private record Entry(NavigableMap<Long, AdapterVersion> versions, @Nullable Long pinned) {}

  private final int keep;
  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdapterRegistry.class);

  private final List<AdapterListener> listeners = new CopyOnWriteArrayList<>();

  private AdapterRegistry(int keep) {
    this.keep = keep;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Builder; {@code keep} defaults to 3 versions per adapter. */
  public static final class Builder {
    private int keep = 3;

    public Builder keep(int versionsPerAdapter) {
      this.keep = versionsPerAdapter;
      return this;
    }

    public AdapterRegistry build() {
      if (keep < 1) {
        throw new BonestreamException("a registry keeps at least 1 version per adapter, got " + keep);
      }
      return new AdapterRegistry(keep);
    }
  }

  public int keep() {
    return keep;
  }

  /** Adds a version: the new latest of its adapter. Older or equal versions are refused. */
  public void accept(AdapterVersion v) {
    boolean[] added = {false};
    entries.compute(v.adapterId(), (id, e) -> {
      NavigableMap<Long, AdapterVersion> versions = e == null ? new TreeMap<>() : new TreeMap<>(e.versions());
      if (!versions.isEmpty() && versions.lastKey() >= v.version()) {
        return e;
      }
      versions.put(v.version(), v);
      Long pinned = e == null ? null : e.pinned();
      while (versions.size() > keep) {
        Long oldest = versions.firstKey();
        if (oldest.equals(pinned)) {
          Long next = versions.higherKey(oldest);
          if (next == null || next == v.version()) {
            break;
          }
          versions.remove(next);
        } else {
          versions.remove(oldest);
        }
      }
      added[0] = true;
      return new Entry(Collections.unmodifiableNavigableMap(versions), pinned);
    });
    if (added[0]) {
      notify(new AdapterUpdate.Accepted(v));
    } else {
      notify(new AdapterUpdate.Refused(v.adapterId(), v.version(), RefusalReason.OUT_OF_ORDER,
          v.name() + " is not newer than the latest held version"));
    }
  }

  /** Reports a refused version to the listeners; nothing held changes. */
  public void refuse(String adapterId, long version, RefusalReason reason, String message) {
    notify(new AdapterUpdate.Refused(adapterId, version, reason, message));
  }

  /**
   * Tells every listener; one that throws is logged and the others still hear of it (a failing
   * export must neither hide the update from the rest nor turn an accepted version into a refusal).
   */
  private void notify(AdapterUpdate u) {
    for (AdapterListener l : listeners) {
      try {
        l.onUpdate(u);
      } catch (RuntimeException e) {
        LOG.warn("listener {} failed on {}: {}", l.getClass().getName(), describe(u), e.toString());
      }
    }
  }

  private static String describe(AdapterUpdate u) {
    if (u instanceof AdapterUpdate.Accepted a) {
      return "accepted " + a.adapter().name();
    }
    AdapterUpdate.Refused r = (AdapterUpdate.Refused) u;
    return "refused " + r.adapterId() + "@" + r.version();
  }

  /**
   * The version a name means: {@code adapter@version} exactly (if held), or {@code adapter}: its
   * pinned version, else its latest.
   */
  public Optional<AdapterVersion> resolve(String name) {
    int at = name.lastIndexOf('@');
    if (at >= 0) {
      Entry e = entries.get(name.substring(0, at));
      try {
        long v = Long.parseLong(name.substring(at + 1));
        return e == null ? Optional.empty() : Optional.ofNullable(e.versions().get(v));
      } catch (NumberFormatException x) {
        return Optional.empty();
      }
    }
    Entry e = entries.get(name);
    if (e == null || e.versions().isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(e.pinned() != null ? e.versions().get(e.pinned()) : e.versions().lastEntry().getValue());
  }

  /** The newest accepted version of an adapter, ignoring pins. */
  public Optional<AdapterVersion> latest(String adapterId) {
    Entry e = entries.get(adapterId);
    return e == null || e.versions().isEmpty() ? Optional.empty() : Optional.of(e.versions().lastEntry().getValue());
  }

  /** The held versions of an adapter, oldest first. */
  public List<AdapterVersion> versions(String adapterId) {
    Entry e = entries.get(adapterId);
    return e == null ? List.of() : List.copyOf(e.versions().values());
  }

  public List<String> adapterIds() {
    List<String> ids = new ArrayList<>(entries.keySet());
    Collections.sort(ids);
    return ids;
  }

  /** Serves {@code adapter@version} under the alias {@code adapter} until {@link #unpin}. */
  public void pin(String adapterId, long version) {
    entries.compute(adapterId, (id, e) -> {
      if (e == null || !e.versions().containsKey(version)) {
        throw new BonestreamException("cannot pin " + adapterId + "@" + version + ": not held (held: "
            + (e == null ? "none" : e.versions().keySet()) + ")");
      }
      return new Entry(e.versions(), version);
    });
  }

  /** The alias follows the latest version again. */
  public void unpin(String adapterId) {
    entries.computeIfPresent(adapterId, (id, e) -> new Entry(e.versions(), null));
  }

  public Optional<Long> pinned(String adapterId) {
    Entry e = entries.get(adapterId);
    return e == null ? Optional.empty() : Optional.ofNullable(e.pinned());
  }

  public void addListener(AdapterListener listener) {
    listeners.add(listener);
  }

  public void removeListener(AdapterListener listener) {
    listeners.remove(listener);
  }
}
