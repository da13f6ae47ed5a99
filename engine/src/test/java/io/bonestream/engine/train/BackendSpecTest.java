package io.bonestream.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.SharedBackend;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

class BackendSpecTest {
  @Test
  void parsesTheConfiguredWords() {
    assertEquals(new BackendSpec("cuda", Precision.FP32), BackendSpec.parse("cuda", "fp32"));
    assertEquals(Precision.BF16, BackendSpec.parse("cuda", null).precision());
    assertTrue(BackendSpec.parse("cpu", "bf16").isCpu());
    BonestreamException e = assertThrows(BonestreamException.class, () -> BackendSpec.parse("gpu", "bf16"));
    assertEquals("unknown backend 'gpu' (known: cpu, cuda)", e.getMessage());
    e = assertThrows(BonestreamException.class, () -> BackendSpec.parse("cuda", "fp16"));
    assertTrue(e.getMessage().contains("unknown precision 'fp16'"), e.getMessage());
  }

  /** recompute travels with the spec to the trainers a backend opens. */
  @Test
  void recomputationReachesTheTrainers() {
    BackendSpec spec = BackendSpec.parse("cpu", null).withRecompute(true);
    assertTrue(spec.recompute());
    assertEquals("cpu, recomputing activations", spec.toString());
    assertEquals(false, BackendSpec.parse("cuda", "fp32").recompute());
    BaseModel base = RandomModels.model(RandomModels.tinyConfig("llama", 1), DataType.FLOAT, false, 1);
    io.bonestream.core.adapters.AdapterConfig adapter = io.bonestream.core.adapters.AdapterConfig.builder()
        .method(io.bonestream.core.adapters.AdapterMethod.BONE).r(4).build();
    for (boolean on : new boolean[] {false, true}) {
      try (SharedBackend cpu = Backends.acquire(BackendSpec.CPU.withRecompute(on), base);
          Trainer t = Trainer.create(base, adapter, io.bonestream.engine.config.TrainConfig.builder().build(), cpu)) {
        assertEquals(on, t.backend().describe().contains("recomputing activations"), t.backend().describe());
      }
    }
  }

  @Test
  void theCpuBackendNeedsNothingAndAnAbsentProviderIsNamed() {
    Backends.check(BackendSpec.CPU);
    BaseModel base = RandomModels.model(RandomModels.tinyConfig("llama", 1), DataType.FLOAT, false, 1);
    try (SharedBackend cpu = Backends.acquire(BackendSpec.CPU, base)) {
      assertEquals(0, cpu.deviceBytes());
    }
    // the engine alone has no cuda provider on its classpath
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> Backends.check(BackendSpec.parse("cuda", "bf16")));
    assertEquals("the cuda backend is not on the classpath (it is in bonestream-cuda)", e.getMessage());
  }
}
