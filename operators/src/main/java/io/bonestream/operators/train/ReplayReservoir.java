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
 * 22's replay; first piece, not yet wired into the trainer). Reservoir sampling (each of the n
 * examples offered so far is kept with probability capacity/n) whose every choice is drawn from the
 * adapter's seed and the example's sequence number, and whose replays for a step are drawn from the
 * seed and the step: a restored adapter keeps and replays exactly what one that never stopped would.
 * Capped in examples and in bytes (an example that would break the byte cap is not kept). The caller
 * offers only training examples, never eval-set records.
 */
final class ReplayReservoir {
  /** One kept example: its id (for erasure), tokens, labels and weight. */
  record Entry(String exampleId, int[] inputIds, int[] labels, float weight) {
    long bytes() {
      return 2L * exampleId.length() + 8L * inputIds.length + 4;
    }
  }

  private final int capacity;
  private final long maxBytes;
  private final long seed;
  private final List<Entry> entries = new ArrayList<>();
  private long offered;
  private long bytes;

  ReplayReservoir(int capacity, long maxBytes, long seed) {
    if (capacity < 1 || maxBytes < 1) {
      throw new IllegalArgumentException("a replay reservoir holds at least one example and one byte");
    }
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.seed = seed;
  }

  int size() {
    return entries.size();
  }

  long bytes() {
    return bytes;
  }

  /** How many examples were offered so far (the sequence number of the next). */
  long offered() {
    return offered;
  }

  List<Entry> entries() {
    return List.copyOf(entries);
  }

  /** Offers the next training example; it is kept or not as the reservoir's draw for it says. */
  void offer(Entry e) {
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
  List<Entry> replays(int k, long step) {
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
  int remove(Predicate<String> erase) {
    int before = entries.size();
    entries.removeIf(e -> {
      if (erase.test(e.exampleId())) {
        bytes -= e.bytes();
        return true;
      }
      return false;
    });
    return before - entries.size();
  }

  /** The reservoir as bytes, for keyed state. */
  byte[] toBytes() {
    try (ByteArrayOutputStream b = new ByteArrayOutputStream(); DataOutputStream out = new DataOutputStream(b)) {
      out.writeInt(capacity);
      out.writeLong(maxBytes);
      out.writeLong(seed);
      out.writeLong(offered);
      out.writeInt(entries.size());
      for (Entry e : entries) {
        out.writeUTF(e.exampleId());
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

  static ReplayReservoir fromBytes(byte[] data) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
      ReplayReservoir r = new ReplayReservoir(in.readInt(), in.readLong(), in.readLong());
      r.offered = in.readLong();
      int n = in.readInt();
      for (int k = 0; k < n; k++) {
        String id = in.readUTF();
        int len = in.readInt();
        int[] ids = new int[len];
        int[] labels = new int[len];
        for (int i = 0; i < len; i++) {
          ids[i] = in.readInt();
          labels[i] = in.readInt();
        }
        Entry e = new Entry(id, ids, labels, in.readFloat());
        r.entries.add(e);
        r.bytes += e.bytes();
      }
      return r;
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
  }
}
