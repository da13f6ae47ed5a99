package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The cuda backend is found by name; without a GPU it says, in one line, what is missing. Where a
 * GPU is present the backend must start (CudaTestGate): a failure there fails this test too.
 */
@Timeout(120)
class CudaBackendProviderTest {
  @Test
  void withoutAGpuTheErrorNamesWhatIsMissing() {
    CudaUnavailableException failure = null;
    try {
      Backends.check(BackendSpec.parse("cuda", "bf16"));
    } catch (CudaUnavailableException e) {
      failure = e;
    }
    CudaTestGate.Decision gate = CudaTestGate.here(failure);
    assumeFalse(gate.verdict() == CudaTestGate.Verdict.RUN, "a usable GPU is here: CudaBackendTest covers it");
    if (gate.verdict() == CudaTestGate.Verdict.FAIL) {
      gate.apply();
    }
    assertTrue(failure.getMessage().startsWith("cuda backend unavailable: "), failure.getMessage());
    assertTrue(failure.getMessage().matches(".*(libcuda\\.so\\.1|lib\\w+\\.so\\.13|no CUDA GPU|error \\d+).*"),
        failure.getMessage());
    assertTrue(!failure.getMessage().contains("\n"), failure.getMessage());
    assertThrows(BonestreamException.class, () -> Devices.open("cuda"));
  }
}
