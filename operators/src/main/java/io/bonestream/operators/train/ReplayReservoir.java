package io.bonestream.operators.train;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * A bounded, uniform sample of an adapter's past training examples, to mix into its steps (issue
 * 22's replay). Reservoir sampling (each of the n
 * examples offered so far is kept with probability capacity/n) whose every choice is drawn from the
 * adapter's seed and the example's sequence number, and whose replays for a step are drawn from the
 * seed and the step: a restored adapter keeps and replays exactly what one that never stopped would.
 * Capped in examples and in bytes (an example that would break the byte cap is not kept). The caller
 * offers only training examples, never eval-set records.
 */
public final class ReplayReservoir {
  /** One kept example: its example and user ids (for erasure; "" when none), tokens, labels and weight. */
  public record Entry(String exampleId, String userId, int[] inputIds, int[] labels, float weight) {
    public Entry {
      exampleId = exampleId == null ? "" : exampleId;
      userId = userId == null ? "" : userId;
    }

    long bytes() {
      return 2L * (exampleId.length() + userId.length()) + 8L * inputIds.length + 4;
    }
  }

  private final int capacity;
  private final long maxBytes;
  private final long seed;
  private final List<Entry> entries = new ArrayList<>();
  private long offered;
  private long bytes;

  public ReplayReservoir(int capacity, long maxBytes, long seed) {
    if (capacity < 1 || maxBytes < 1) {
      throw new IllegalArgumentException("a replay reservoir holds at least one example and one byte");
    }
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.seed = seed;
  }

  public int size() {
    return entries.size();
  }

  public long bytes() {
    return bytes;
  }

  /** How many examples were offered so far (the sequence number of the next). */
  public long offered() {
    return offered;
  }

  public List<Entry> entries() {
    return List.copyOf(entries);
  }

  /** Offers the next training example; it is kept or not as the reservoir's draw for it says. */
  public void offer(Entry e) {
    long n = offered++;
    int slot;
    if (entries.size() < capacity) {
      slot = entries.size();
    } else {
      long j = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (n + 1))).nextLong(n + 1);
      if (j >= capacity) {
        return;
      }
      slot = (int) j;
    }
    long freed = slot < entries.size() ? entries.get(slot).bytes() : 0;
    if (bytes - freed + e.bytes() > maxBytes) {
      return;
    }
    bytes += e.bytes() - freed;
    if (slot < entries.size()) {
      entries.set(slot, e);
    } else {
      entries.add(e);
    }
  }

  /** {@code k} examples (with replacement) to mix into step {@code step}; fewer when fewer are kept. */
  public List<Entry> replays(int k, long step) {
    List<Entry> out = new ArrayList<>(k);
    if (entries.isEmpty()) {
      return out;
    }
    SplittableRandom r = new SplittableRandom(seed * 31 + step);
    for (int i = 0; i < k; i++) {
      out.add(entries.get(r.nextInt(entries.size())));
    }
    return out;
  }

  /** Removes the examples {@code erase} names (erasure); answers how many. */
  public int remove(Predicate<Entry> erase) {
    int before = entries.size();
    entries.removeIf(e -> {
      if (erase.test(e)) {
        bytes -= e.bytes();
        return true;
      }
      return false;
    });
    return before - entries.size();
  }

  /**
   * This reservoir under other limits (a profile's changed {@code capacity} or {@code max-bytes},
   * applied when an adapter's reservoir is restored): the same seed and sequence; when the limits
   * shrink, the kept examples past the new capacity go, then from the last until the bytes fit (a
   * fixed part of a uniform sample is a uniform sample). When they grow, the new room fills with the
   * next examples offered, as after an erasure, and sampling is uniform again once it is full.
   */
  public ReplayReservoir withLimits(int newCapacity, long newMaxBytes) {
    if (newCapacity == capacity && newMaxBytes == maxBytes) {
      return this;
    }
    ReplayReservoir r = new ReplayReservoir(newCapacity, newMaxBytes, seed);
    r.offered = offered;
    for (Entry e : entries.subList(0, Math.min(entries.size(), newCapacity))) {
      r.entries.add(e);
      r.bytes += e.bytes();
    }
    while (r.bytes > newMaxBytes) {
      r.bytes -= r.entries.remove(r.entries.size() - 1).bytes();
    }
    return r;
  }

  public int capacity() {
    return capacity;
  }

  public long maxBytes() {
    return maxBytes;
  }

  /** The reservoir as bytes, for keyed state. */
  public byte[] toBytes() {
    try (ByteArrayOutputStream b = new ByteArrayOutputStream(); DataOutputStream out = new DataOutputStream(b)) {
      out.writeInt(capacity);
      out.writeLong(maxBytes);
      out.writeLong(seed);
      out.writeLong(offered);
      out.writeInt(entries.size());
      for (Entry e : entries) {
        out.writeUTF(e.exampleId());
        out.writeUTF(e.userId());
        out.writeInt(e.inputIds().length);
        for (int i = 0; i < e.inputIds().length; i++) {
          out.writeInt(e.inputIds()[i]);
          out.writeInt(e.labels()[i]);
        }
        out.writeFloat(e.weight());
      }
      out.flush();
      return b.toByteArray();
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
  }

  /**
   * Whether an encoded reservoir ({@link #toBytes}) keeps an example {@code matches} names (by example
   * and user id), reading only the ids: an erasure decodes the reservoir only where it removes
   * something.
   */
  public static boolean keepsAny(byte[] data, Predicate<Entry> matches) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
      in.skipNBytes(4 + 8 + 8 + 8); // capacity, max bytes, seed, offered
      int n = in.readInt();
      for (int k = 0; k < n; k++) {
        String id = in.readUTF();
        String user = in.readUTF();
        int len = in.readInt();
        if (matches.test(new Entry(id, user, EMPTY, EMPTY, 0))) {
          return true;
        }
        in.skipNBytes(8L * len + 4); // the tokens and labels, the weight
      }
      return false;
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
  }

  private static final int[] EMPTY = new int[0];

  public static ReplayReservoir fromBytes(byte[] data) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
      ReplayReservoir r = new ReplayReservoir(in.readInt(), in.readLong(), in.readLong());
      r.offered = in.readLong();
      int n = in.readInt();
      for (int k = 0; k < n; k++) {
        String id = in.readUTF();
        String user = in.readUTF();
        int len = in.readInt();
        int[] ids = new int[len];
        int[] labels = new int[len];
        for (int i = 0; i < len; i++) {
          ids[i] = in.readInt();
          labels[i] = in.readInt();
        }
        Entry e = new Entry(id, user, ids, labels, in.readFloat());
        r.entries.add(e);
        r.bytes += e.bytes();
      }
      return r;
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
  }
}
