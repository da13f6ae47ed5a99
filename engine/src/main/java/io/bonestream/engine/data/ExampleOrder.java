package io.bonestream.engine.data;

import io.bonestream.core.util.Rng;

/**
 * Which record comes at each position of the training stream: records in file order (or in a
 * per-epoch shuffle drawn from the seed), epochs back to back, so step s takes positions
 * [s·E, (s+1)·E) for E examples per step. A pure function of (n, seed, position), so a resumed run
 * sees the very batches an uninterrupted one would.
 */
public final class ExampleOrder {
  private final int size;
  private final long seed;
  private final boolean shuffle;
  private long cachedEpoch = -1;
  private int[] permutation;

  public ExampleOrder(int size, long seed, boolean shuffle) {
    this.size = size;
    this.seed = seed;
    this.shuffle = shuffle;
  }

  /** The record index at stream position {@code position}. */
  public int at(long position) {
    int offset = (int) (position % size);
    if (!shuffle) {
      return offset;
    }
    long epoch = position / size;
    if (epoch != cachedEpoch) {
      permutation = permutation(epoch);
      cachedEpoch = epoch;
    }
    return permutation[offset];
  }

  private int[] permutation(long epoch) {
    int[] p = new int[size];
    for (int i = 0; i < size; i++) {
      p[i] = i;
    }
    Rng rng = Rng.derive(seed, epoch + 1);
    for (int i = size - 1; i > 0; i--) { // Fisher–Yates
      int j = rng.nextInt(i + 1);
      int t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
