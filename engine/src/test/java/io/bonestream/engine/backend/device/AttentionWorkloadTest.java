package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The attention workload of the kernel benchmarks and the CUDA device's start check: the same
 * seeds draw the same problem on every device, so two devices' results compare; clearing the
 * outputs leaves nothing of the last run to pass for a new one; closing frees what it allocated.
 */
@Timeout(60)
class AttentionWorkloadTest {
  @Test
  void twoDevicesSolveTheSameProblemAndAgree() {
    Device java = new JavaDevice();
    Device cpu = CpuDevice.get();
    long before = cpu.allocatedBytes();
    float[][] reference;
    try (AttentionWorkload w = new AttentionWorkload(java, DType.F32, 2, 2, 2, 77, 24, 5)) {
      reference = w.solve();
      assertEquals(4.0 * 2 * 4 * 77 * 77 * 24 / 2, w.forwardFlops());
    }
    try (AttentionWorkload w = new AttentionWorkload(cpu, DType.F32, 2, 2, 2, 77, 24, 5)) {
      double[] d = AttentionWorkload.distances(w.solve(), reference);
      for (double x : d) {
        assertTrue(x < 1e-5, AttentionWorkload.describe(d));
      }
      w.clearOutputs();
      double[] cleared = AttentionWorkload.distances(w.results(), reference);
      for (double x : cleared) {
        assertEquals(1.0, x, 1e-12, "a cleared output is all zeros: " + AttentionWorkload.describe(cleared));
      }
      // another seed is another problem
      try (AttentionWorkload other = new AttentionWorkload(cpu, DType.F32, 2, 2, 2, 77, 24, 6)) {
        other.forward();
        assertTrue(AttentionWorkload.distances(other.results(), reference)[0] > 0.5);
      }
    }
    assertEquals(before, cpu.allocatedBytes(), "the workloads freed what they allocated");
  }
}
