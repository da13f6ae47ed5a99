package io.bonestream.engine.util;

import io.bonestream.engine.BonestreamException;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J's thread settings. Results are bit-reproducible for a fixed thread count; a different
 * count can change the order of floating-point sums and so the last bits. Without a setting, ND4J
 * uses {@code OMP_NUM_THREADS}, or one thread per core.
 */
public final class Threads {
  private Threads() {}

  /** Sets the threads of ND4J's own ops and of its BLAS (GEMM); 0 keeps the defaults. */
  public static void configure(int threads) {
    if (threads < 0) {
      throw new BonestreamException("threads must be ≥ 0 (0 = default), got " + threads);
    }
    if (threads > 0) {
      Nd4j.getEnvironment().setMaxMasterThreads(threads);
      Nd4j.getEnvironment().setMaxThreads(threads);
      Nd4j.factory().blas().setMaxThreads(threads);
    }
  }

  public static int current() {
    return Nd4j.getEnvironment().maxThreads();
  }
}
