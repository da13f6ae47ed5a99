package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import org.junit.jupiter.api.Test;

/** The cuda backend is found by name; without a GPU it says, in one line, what is missing. */
class CudaBackendProviderTest {
  @Test
  void withoutAGpuTheErrorNamesWhatIsMissing() {
    boolean usable;
    try {
      Backends.check(BackendSpec.parse("cuda", "bf16"));
      usable = true;
    } catch (CudaUnavailableException e) {
      usable = false;
      assertTrue(e.getMessage().startsWith("cuda backend unavailable: "), e.getMessage());
      assertTrue(e.getMessage().matches(".*(libcuda\\.so\\.1|lib\\w+\\.so\\.13|no CUDA GPU|error \\d+).*"),
          e.getMessage());
      assertTrue(!e.getMessage().contains("\n"), e.getMessage());
    }
    assumeFalse(usable, "a usable GPU is here: CudaBackendTest covers it");
    assertThrows(BonestreamException.class, () -> Devices.open("cuda"));
  }
}
