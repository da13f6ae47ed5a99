package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** How bat merges, read from a CUDA device's description: a fallback after a failed check is a failure. */
@Timeout(30)
class MergePathTest {
  private static final String HEAD = "NVIDIA H200 (sm_90, 140 GiB), driver 13.0, runtime 13.0, cuBLAS 130100, NVRTC 13.0, ";

  @Test
  void eachDescriptionNamesItsPath() {
    assertEquals(MergePath.TENSOR_CORES, MergePath.of(HEAD + "bat merge on tensor cores (pipe), bat dB in one pass "
        + "up to 4194304 weights (half at r 128), side stream"));
    assertEquals(MergePath.TWO_PASSES_ON_PURPOSE, MergePath.of(HEAD + "bat merge in two passes "
        + "(BONESTREAM_CUDA_BAT_MMA=0), bat dB in one pass up to 4194304 weights, one stream"));
    assertEquals(MergePath.TWO_PASSES_OLD_GPU, MergePath.of(
        "Tesla T4 (sm_75, 15 GiB), ..., bat merge in two passes (no bf16 tensor-core kernel before sm_80), one stream"));
    String fell = HEAD + "bat merge in two passes (the tensor-core kernel is off by 0.31 at r 64, 4096 x 4096), bat dB "
        + "in one pass up to 4194304 weights, side stream";
    assertEquals(MergePath.FELL_BACK, MergePath.of(fell));
    assertEquals("the tensor-core kernel is off by 0.31 at r 64, 4096 x 4096", MergePath.reason(fell));
    assertEquals(MergePath.FELL_BACK, MergePath.of(HEAD + "bat merge in two passes (the tensor-core kernel failed: "
        + "cuLaunchKernel failed with error 700 (an illegal memory access (sic))), one stream"));
    assertEquals(MergePath.UNKNOWN, MergePath.of("cpu, 2 threads, OpenBLAS GEMMs"));
  }

  @Test
  void onlyAFallbackOrAnUnreadableDescriptionFails() {
    assertTrue(MergePath.TENSOR_CORES.acceptable());
    assertTrue(MergePath.TWO_PASSES_ON_PURPOSE.acceptable());
    assertTrue(MergePath.TWO_PASSES_OLD_GPU.acceptable());
    assertFalse(MergePath.FELL_BACK.acceptable());
    assertFalse(MergePath.UNKNOWN.acceptable());
  }

  /** The phrases are CudaDevice's own: if it rewords them, this fails (read from its class file, not loaded). */
  @Test
  void cudaDeviceStillWritesThePhrases() throws Exception {
    String constants;
    try (InputStream in = MergePathTest.class.getResourceAsStream("CudaDevice.class")) {
      constants = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
    }
    for (String phrase : new String[] {MergePath.ON, MergePath.OFF_ON_PURPOSE, MergePath.OLD_GPU, MergePath.TWO_PASSES}) {
      assertTrue(constants.contains(phrase), "CudaDevice no longer writes '" + phrase + "'");
    }
  }
}
