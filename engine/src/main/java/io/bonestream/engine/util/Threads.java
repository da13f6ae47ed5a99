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
   * The count last {@link #configure}d or read by {@link #count} (0: neither yet), for a caller that
   * runs commands in-process and puts the setting back after them.
   */
  public static int setting() {
    return count;
  }

  /**
   * Puts back a {@link #setting()} read earlier: that count, or for 0 the default ({@code
   * OMP_NUM_THREADS}, else one per core), as a new process would have.
   */
  public static void restore(int setting) {
    if (setting != count) {
      configure(setting > 0 ? setting : withoutNd4j(System.getenv("OMP_NUM_THREADS")));
      count = setting;
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
   * once); without ND4J on the classpath (the CPU device in the lean GPU distribution's selftest),
   * {@code OMP_NUM_THREADS} or one per core, as ND4J would. The CPU device's kernels and GEMMs
   * follow it.
   */
  public static int count() {
    int n = count;
    if (n == 0) {
      n = nd4jPresent() ? current() : withoutNd4j(System.getenv("OMP_NUM_THREADS"));
      count = n;
    }
    return n;
  }

  private static boolean nd4jPresent() {
    try {
      Class.forName("org.nd4j.linalg.factory.Nd4j", false, Threads.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /** {@code OMP_NUM_THREADS} when it is a positive number, else one thread per core. */
  static int withoutNd4j(String ompNumThreads) {
    try {
      int n = ompNumThreads == null ? 0 : Integer.parseInt(ompNumThreads.trim());
      if (n > 0) {
        return n;
      }
    } catch (NumberFormatException e) {
      // not a number: one per core
    }
    return Runtime.getRuntime().availableProcessors();
  }

  /** The OpenMP threads ND4J's ops use now. */
  public static int current() {
    Nd4j.getEnvironment(); // loads the backend first
    return NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
  }
}
