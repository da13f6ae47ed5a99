package io.bonestream.core.model;

import java.util.Arrays;
import org.jspecify.annotations.Nullable;

/**
 * A tensor in plain Java memory, C order: float32 values, or float64 ones (gradient checks run in
 * float64). The backend-free form of adapter tensors and optimizer moments, e.g. in a training
 * state; it never touches ND4J or a GPU.
 */
public record HostTensor(long[] shape, float @Nullable [] floats, double @Nullable [] doubles) {
  public HostTensor {
    if ((floats == null) == (doubles == null)) {
      throw new IllegalArgumentException("a host tensor holds float32 or float64 values, exactly one");
    }
    long n = elementCount(shape);
    long have = floats != null ? floats.length : doubles.length;
    if (n != have) {
      throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n
          + " values, got " + have);
    }
  }

  public static HostTensor of(float[] values, long... shape) {
    return new HostTensor(shape.clone(), values, null);
  }

  public static HostTensor ofDoubles(double[] values, long... shape) {
    return new HostTensor(shape.clone(), null, values);
  }

  public boolean isDouble() {
    return doubles != null;
  }

  public long length() {
    return elementCount(shape);
  }

  /** The values as float32 (float64 values are rounded). */
  public float[] toFloats() {
    if (floats != null) {
      return floats;
    }
    float[] f = new float[doubles.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) doubles[i];
    }
    return f;
  }

  public static long elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }
}
