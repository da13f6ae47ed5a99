package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.backend.DeviceBackends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.cpu.CpuBackends;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModel;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.train.Trainer;
import io.bonestream.engine.util.Threads;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Activation recomputation changes memory, never results: training with it gives the same bits as
 * training without (every step's loss and gradient norm, the adapter values, the held-out loss),
 * for every method, on the Java reference device in fp32 and emulated bf16 and on the CPU device
 * (sequences over several attention tiles there); and a recomputing step holds one layer's
 * activations instead of every layer's.
 */
class RecomputeTest {
  @AfterAll
  static void restoreThreads() {
    Threads.configure(Runtime.getRuntime().availableProcessors());
  }

  private record Run(double[] losses, double[] norms, float[] values, double eval) { }

  private static Run train(BaseModel base, AdapterConfig adapter, TrainConfig train, List<Example> data,
      BackendFactory backend) {
    try (Trainer t = Trainer.create(base, adapter, train, backend)) {
      int steps = data.size() / 6;
      double[] losses = new double[steps];
      double[] norms = new double[steps];
      for (int s = 0; s < steps; s++) {
        StepResult r = t.step(data.subList(6 * s, 6 * s + 6));
        losses[s] = r.loss();
        norms[s] = r.gradNorm();
      }
      return new Run(losses, norms, t.backend().parameters(), t.evaluate(data));
    }
  }

  private static void assertSameBits(Run keep, Run recompute) {
    assertArrayEquals(keep.losses, recompute.losses, "losses step by step");
    assertArrayEquals(keep.norms, recompute.norms, "gradient norms step by step");
    assertArrayEquals(keep.values, recompute.values, "adapter values after training");
    assertEquals(keep.eval, recompute.eval, "held-out loss");
    double norm = 0;
    for (float v : keep.values) {
      norm += v * v;
    }
    assertTrue(norm > 0, "no training happened");
  }

  @ParameterizedTest(name = "{0} r={1} {2} {3}")
  @CsvSource({
    "bat,  4, adamw, FP32",
    "bat,  4, sgd,   BF16",
    "bone, 4, adamw, FP32",
    "bone, 5, adamw, BF16",
    "lora, 4, adamw, FP32",
    "mini, 4, sgd,   FP32",
  })
  void theJavaDeviceGivesTheSameBits(String method, int r, String optimizer, Precision precision) {
    ModelConfig config = RandomModels.tinyConfig("llama", 2);
    BaseModel base = RandomModels.model(config, DataType.FLOAT, false, 11);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.fromId(method)).r(r)
        .miniR(method.equals("mini") ? 2 : 1).build();
    TrainConfig train = TrainConfig.builder().optimizer(OptimizerKind.fromId(optimizer)).lr(2e-2)
        .weightDecay(0.01).maxGradNorm(0.5).batchSize(3).gradAccum(2).build();
    List<Example> data = DeviceBackendOracleTest.examples(18, 3, config.vocabSize());
    Run keep;
    try (DeviceBackends java = DeviceBackends.on(new JavaDevice(), precision)) {
      keep = train(base, adapter, train, data, java);
    }
    Run recompute;
    try (DeviceBackends java = DeviceBackends.on(new JavaDevice(), precision)) {
      recompute = train(base, adapter, train, data, java.recomputing(true));
    }
    assertSameBits(keep, recompute);
  }

  @ParameterizedTest(name = "{0}, {1} threads")
  @CsvSource({"bat, 2", "bone, 2", "lora, 1"})
  void theCpuDeviceGivesTheSameBits(String method, int threads) {
    Threads.configure(threads);
    // 150-token sequences: three attention tiles of the CPU device, the last one partial
    ModelConfig config = RandomModel.config(64, 2, 4, 2, 96, 200, 160);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.fromId(method)).r(8).build();
    TrainConfig train = TrainConfig.builder().lr(1e-2).batchSize(2).maxSeqLen(160).build();
    List<Example> data = sequences(12, 150, config.vocabSize());
    // two copies of one model: a workspace each, so that the recomputing one holds no kept layers
    Run keep = train(RandomModel.create(config, DataType.FLOAT, 0.05, 0.0, false, 3), adapter, train, data,
        (b, a, c) -> CpuBackends.open(b, a, c, false));
    Run recompute = train(RandomModel.create(config, DataType.FLOAT, 0.05, 0.0, false, 3), adapter, train, data,
        (b, a, c) -> CpuBackends.open(b, a, c, true));
    assertSameBits(keep, recompute);
  }

  /** A recomputing step allocates one layer's activations; keeping them, every layer's (6 here). */
  @Test
  void aRecomputingStepHoldsOneLayersActivations() {
    ModelConfig config = RandomModels.tinyConfig("llama", 6);
    BaseModel base = RandomModels.model(config, DataType.FLOAT, false, 11);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    TrainConfig train = TrainConfig.builder().lr(1e-2).batchSize(6).build();
    List<Example> data = DeviceBackendOracleTest.examples(6, 3, config.vocabSize());
    long[] peak = new long[2];
    for (int i = 0; i < 2; i++) {
      JavaDevice device = new JavaDevice();
      try (DeviceBackends java = DeviceBackends.on(device, Precision.FP32)) {
        long before = device.allocatedBytes();
        train(base, adapter, train, data, java.recomputing(i == 1));
        peak[i] = device.peakAllocatedBytes() - before;
      }
    }
    // the kept activations are most of a step's memory at this shape: 6 layers' against 1 (about 0.5×)
    assertTrue(peak[1] < 0.75 * peak[0], "recomputing " + peak[1] + " bytes, keeping " + peak[0]);
  }

  private static List<Example> sequences(int n, int len, int vocab) {
    Rng rng = new Rng(9);
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[len - i % 3]; // unequal lengths: padding in every batch
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 1 + rng.nextInt(vocab - 1);
      }
      out.add(new Example(ids, ids.clone()));
    }
    return out;
  }
}
