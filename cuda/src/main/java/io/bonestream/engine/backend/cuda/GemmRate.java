package io.bonestream.engine.backend.cuda;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;

/** The device's GEMM rate on random data: n³ products, 3 warm-up runs, then the mean of 10. */
public final class GemmRate {
  private GemmRate() {}

  /** TFLOP/s of C (n, n) = A B with A, B, C of {@code type}, float32 accumulation. */
  public static double measure(Device d, DType type, int n) {
    long nn = (long) n * n;
    Buf a = d.alloc(type, nn);
    Buf b = d.alloc(type, nn);
    Buf c = d.alloc(type, nn);
    try {
      d.randomNormal(a, 1f, 1);
      d.randomNormal(b, 1f, 2);
      for (int i = 0; i < 3; i++) {
        d.gemm(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n);
      }
      d.synchronize();
      int reps = 10;
      long t0 = System.nanoTime();
      for (int i = 0; i < reps; i++) {
        d.gemm(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n);
      }
      d.synchronize();
      double s = (System.nanoTime() - t0) / 1e9;
      return 2.0 * n * nn * reps / s / 1e12;
    } finally {
      d.free(a);
      d.free(b);
      d.free(c);
    }
  }
}
