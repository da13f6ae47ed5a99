package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.function.Supplier;

/**
 * Whether a CUDA test runs, skips or fails after its backend tried to start. It skips only where
 * there is no GPU (no GPU device file, or the driver counts none) or where
 * {@code BONESTREAM_CUDA_TESTS=skip} asks for it; where a GPU is present, a CUDA, cuBLAS or NVRTC
 * failure at start fails the test, so that a broken installation never passes as "skipped".
 */
final class CudaTestGate {
  /** {@code skip}: skip the CUDA tests even where a GPU is present (said in each skip's reason). */
  static final String OVERRIDE = "BONESTREAM_CUDA_TESTS";

  enum Verdict { RUN, SKIP, FAIL }

  /** A verdict and why. */
  record Decision(Verdict verdict, String reason) {
    /** In a test: returns on RUN, skips on SKIP, fails on FAIL. */
    void apply() {
      if (verdict == Verdict.FAIL) {
        fail(reason);
      }
      assumeTrue(verdict == Verdict.RUN, reason);
    }
  }

  private CudaTestGate() {}

  /**
   * The decision after a start that ended in {@code failure} (null: it started). {@code presence}
   * is probed only after a failure; {@code override} is the value of {@link #OVERRIDE}.
   */
  static Decision decide(Throwable failure, Supplier<GpuPresence> presence, String override) {
    if (failure == null) {
      return new Decision(Verdict.RUN, "the CUDA backend started");
    }
    String why = String.valueOf(failure.getMessage());
    if ("skip".equals(override)) {
      return new Decision(Verdict.SKIP, "CUDA tests skipped (" + OVERRIDE + "=skip): " + why);
    }
    GpuPresence p = presence.get();
    if (p.gpuPresent()) {
      return new Decision(Verdict.FAIL, "a GPU is present (" + p.describe() + ") but the CUDA backend failed to "
          + "start: " + why + " (" + OVERRIDE + "=skip skips these tests on purpose)");
    }
    return new Decision(Verdict.SKIP, "CUDA tests skipped, no GPU here (" + p.describe() + "): " + why);
  }

  /** The decision for this machine after a start that ended in {@code failure}. */
  static Decision here(Throwable failure) {
    return decide(failure, GpuPresence::probe, System.getenv(OVERRIDE));
  }
}
