package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/** Skip or fail, decided from fake probe outcomes: a CUDA test skips only where no GPU is. */
@Timeout(30)
class CudaTestGateTest {
  private static final RuntimeException NVRTC = new CudaUnavailableException(
      "cuda backend unavailable: NVRTC could not compile kernels.cu for sm_89: error ...");
  private static final RuntimeException NO_DRIVER = new CudaUnavailableException(
      "cuda backend unavailable: no NVIDIA driver: libcuda.so.1 not found");

  private static GpuPresence gpus(int files, int driverCount) {
    return new GpuPresence(files, driverCount, driverCount < 0 ? "libcudart.so.13 not found" : "", null);
  }

  @Test
  void aStartedBackendRunsWithoutProbing() {
    AtomicInteger probes = new AtomicInteger();
    CudaTestGate.Decision d = CudaTestGate.decide(null, () -> {
      probes.incrementAndGet();
      return gpus(1, 1);
    }, null);
    assertEquals(CudaTestGate.Verdict.RUN, d.verdict());
    assertEquals(0, probes.get());
    d.apply(); // returns
  }

  @Test
  void aFailureWhereTheDriverCountsAGpuFails() {
    CudaTestGate.Decision d = CudaTestGate.decide(NVRTC, () -> gpus(1, 1), null);
    assertEquals(CudaTestGate.Verdict.FAIL, d.verdict());
    assertTrue(d.reason().contains("NVRTC could not compile"), d.reason());
    assertThrows(AssertionFailedError.class, d::apply);
  }

  @Test
  void aFailureWhereOnlyADeviceFileShowsAGpuFails() {
    // the runtime does not load, so the driver API cannot be asked: the device file decides
    CudaTestGate.Decision d = CudaTestGate.decide(new CudaUnavailableException(
        "cuda backend unavailable: CUDA 13 library not found: libcublas.so.13"), () -> gpus(2, -1), null);
    assertEquals(CudaTestGate.Verdict.FAIL, d.verdict());
  }

  @Test
  void noGpuSkips() {
    for (GpuPresence none : new GpuPresence[] {gpus(0, -1), gpus(0, 0), gpus(1, 0)}) {
      CudaTestGate.Decision d = CudaTestGate.decide(NO_DRIVER, () -> none, null);
      assertEquals(CudaTestGate.Verdict.SKIP, d.verdict(), none.describe());
      assertThrows(TestAbortedException.class, d::apply);
    }
  }

  @Test
  void skippingOnPurposeIsSaid() {
    CudaTestGate.Decision d = CudaTestGate.decide(NVRTC, () -> gpus(1, 1), "skip");
    assertEquals(CudaTestGate.Verdict.SKIP, d.verdict());
    assertTrue(d.reason().contains(CudaTestGate.OVERRIDE + "=skip"), d.reason());
    assertEquals(CudaTestGate.Verdict.FAIL, CudaTestGate.decide(NVRTC, () -> gpus(1, 1), "no").verdict());
  }

  @Test
  void gpuDeviceFilesAreCountedAndTheOthersNot(@TempDir Path dev) throws Exception {
    for (String f : new String[] {"nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "null"}) {
      Files.createFile(dev.resolve(f));
    }
    assertEquals(2, GpuPresence.countDeviceFiles(dev));
    assertEquals(0, GpuPresence.countDeviceFiles(dev.resolve("missing")));
  }

  @Test
  void librariesAreLookedForInTheGivenFolders(@TempDir Path dir) throws Exception {
    Files.createDirectories(dir.resolve("b"));
    Files.createFile(dir.resolve("b/libcuda.so.1"));
    assertTrue(GpuPresence.findable("libcuda.so.1", java.util.List.of(dir.resolve("a"), dir.resolve("b"))));
    assertFalse(GpuPresence.findable("libcudart.so.13", java.util.List.of(dir.resolve("a"), dir.resolve("b"))));
    assertFalse(GpuPresence.searchPath().isEmpty());
  }

  @Test
  void theDriverCountDecidesWhenItWasAsked() {
    assertTrue(gpus(0, 1).gpuPresent());
    assertFalse(gpus(3, 0).gpuPresent()); // e.g. CUDA_VISIBLE_DEVICES hides them
    assertTrue(gpus(1, -1).gpuPresent());
    assertFalse(gpus(0, -1).gpuPresent());
  }

  /** The real probe answers on any machine, without throwing. */
  @Test
  void theProbeNeverThrows() {
    GpuPresence p = GpuPresence.probe();
    assertTrue(p.deviceFiles() >= 0);
    System.out.println("GPU probe here: " + p.describe());
  }
}
