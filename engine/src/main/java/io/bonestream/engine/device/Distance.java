package io.bonestream.engine.device;

/** How far a device's result is from a reference: what the checks and kernel benchmarks compare by. */
public final class Distance {
  private Distance() {}

  /**
   * ‖a − b‖₂ / ‖b‖₂, summed in float64; ‖a − b‖₂ where b is all zeros. NaN where either holds a
   * NaN (so that a bound {@code !(d <= bound)} fails).
   */
  public static double relL2(float[] a, float[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("relL2 of " + a.length + " against " + b.length + " values");
    }
    double diff = 0;
    double norm = 0;
    for (int i = 0; i < a.length; i++) {
      double x = (double) a[i] - b[i];
      diff += x * x;
      norm += (double) b[i] * b[i];
    }
    return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
  }
}
