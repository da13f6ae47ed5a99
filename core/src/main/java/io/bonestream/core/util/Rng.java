package io.bonestream.core.util;

/**
 * A small deterministic random generator (SplitMix64) whose whole state is one long, so it can be
 * saved in a training checkpoint and restored exactly.
 */
public final class Rng {
  private long state;

  public Rng(long seed) {
    this.state = seed;
  }

  public long state() {
    return state;
  }

  public long nextLong() {
    long z = (state += 0x9E3779B97F4A7C15L);
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Uniform in [0, 1), 53 random bits. */
  public double nextDouble() {
    return (nextLong() >>> 11) * 0x1.0p-53;
  }

  /** Uniform in [0, bound). */
  public int nextInt(int bound) {
    return (int) Math.floorMod(nextLong(), (long) bound);
  }

  /** A generator for a derived purpose (e.g. one epoch's shuffle), independent of this one's use. */
  public static Rng derive(long seed, long purpose) {
    Rng r = new Rng(seed ^ (purpose * 0xD1B54A32D192ED03L));
    r.nextLong();
    return r;
  }
}
