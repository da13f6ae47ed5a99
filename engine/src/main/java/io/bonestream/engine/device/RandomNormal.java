package io.bonestream.engine.device;

/**
 * The counter-based normal generator of {@link Device#randomNormal}: element i of a buffer is a
 * function of (seed, i) alone, so the GPU fills billions of weights in parallel and the Java
 * device draws the same numbers. SplitMix64 of the counter, then Box–Muller.
 */
public final class RandomNormal {
  private RandomNormal() {}

  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A standard normal value for counter {@code i}. */
  public static float at(long seed, long i) {
    long h = mix(seed + (i + 1) * 0x9E3779B97F4A7C15L);
    float u1 = ((h >>> 40) + 1) * 0x1p-24f;          // (0, 1]
    float u2 = ((h >>> 16) & 0xffffff) * 0x1p-24f;   // [0, 1)
    return (float) (Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2));
  }
}
