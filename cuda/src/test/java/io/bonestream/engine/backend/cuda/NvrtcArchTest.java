package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Every kernel compiles with NVRTC for Ampere (sm_80, sm_86), Ada (sm_89), Hopper (sm_90) and the
 * GPU's own architecture: the 24–48 GB GPUs users train on are Ampere and Ada, and no GPU is
 * needed to check it, only libnvrtc. Skipped where NVRTC does not load and no GPU is present;
 * fails where a GPU is present (CudaTestGate).
 */
@Timeout(600)
class NvrtcArchTest {
  private static CudaTestGate.Decision gate;

  @BeforeAll
  static void load() {
    Throwable failure = null;
    try {
      NvrtcCompiler.load();
      NvrtcCompiler.version();
    } catch (RuntimeException | LinkageError e) {
      failure = e;
    }
    gate = CudaTestGate.here(failure);
  }

  @Test
  void everyKernelCompilesForAmpereAdaHopperAndThisGpu() {
    gate.apply();
    List<String> archs = new ArrayList<>(ArchList.parse(ArchList.DEFAULT, () -> null));
    String mine = GpuPresence.probe().arch();
    if (mine != null && !archs.contains(mine)) {
      archs.add(mine);
    }
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    boolean ok = ArchCheck.run(archs, new PrintStream(buffer, true, StandardCharsets.UTF_8));
    String text = buffer.toString(StandardCharsets.UTF_8);
    System.out.print(text);
    assertTrue(ok, text);
  }
}
