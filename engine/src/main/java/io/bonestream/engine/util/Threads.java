package io.bonestream.engine.util;

import io.bonestream.core.BonestreamException;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * ND4J's thread settings. Results are bit-reproducible for a fixed thread count; a different
 * count can change the order of floating-point sums and so the last bits. Without a setting, ND4J
 * uses {@code OMP_NUM_THREADS}, or one thread per core.
 */
public final class Threads {
  private static volatile int count;

  private Threads() {}

  /** Sets the threads of ND4J's own ops and of its BLAS (GEMM); 0 keeps the defaults. */
  public static void configure(int threads) {
    if (threads < 0) {
      throw new BonestreamException("threads must be ≥ 0 (0 = default), got " + threads);
    }
    if (threads > 0) {
      Nd4j.getEnvironment().setMaxMasterThreads(threads);
      Nd4j.getEnvironment().setMaxThreads(threads);
      NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
      Nd4j.factory().blas().setMaxThreads(threads);
      count = threads;
    }
  }

  /**
   * The thread count to use for a model when none is asked for: one for small models (hidden size
   * below 512), whose many tiny operations lose more to thread hand-offs than they gain, else 0
   * (ND4J's default: one per core).
   */
  public static int auto(int requested, int hiddenSize) {
    return requested > 0 ? requested : hiddenSize < 512 ? 1 : 0;
  }

  /**
   * The compute threads to use: the last count {@link #configure}d, else ND4J's default (read
   * once). The CPU device's kernels and GEMMs follow it.
   */
  public static int count() {
    int n = count;
    if (n == 0) {
      n = current();
      count = n;
    }
    return n;
  }

  /** The OpenMP threads ND4J's ops use now. */
  public static int current() {
    Nd4j.getEnvironment(); // loads the backend first
    return NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
  }
}
