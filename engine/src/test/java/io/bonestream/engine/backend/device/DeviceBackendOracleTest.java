package io.bonestream.engine.backend.device;

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
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The device backend's math, run on the Java reference device and on the CPU device (the
 * {@code cpu} backend) in float32, against the ND4J engine (the oracle, itself checked by finite
 * differences and the goldens): the same losses, gradient norms and adapter values step after
 * step, for every method, with grouped-query attention, q/k/v biases, padding, a bone r that
 * leaves a remainder, weight decay and clipping.
 */
class DeviceBackendOracleTest {
  static List<Example> examples(int n, long seed, int vocab) {
    Rng rng = new Rng(seed);
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 4 + rng.nextInt(9);
      int[] ids = new int[len];
      int[] labels = new int[len];
      for (int t = 0; t < len; t++) {
        ids[t] = 1 + rng.nextInt(vocab - 1);
        labels[t] = t < len / 3 ? -100 : ids[t];
      }
      out.add(new Example(ids, labels, i % 3 == 0 ? 2f : 1f));
    }
    return out;
  }

  @ParameterizedTest(name = "{0} {1} r={2} {3} mini_r={4}")
  @CsvSource({
    "llama, bat,  4, adamw, 1",
    "llama, bone, 4, adamw, 1",
    "llama, bone, 5, sgd,   1",
    "llama, lora, 4, adamw, 1",
    "llama, mini, 4, adamw, 2",
    "llama, mini, 5, sgd,   1",
    "qwen2, bat,  4, sgd,   1",
    "qwen2, bone, 8, adamw, 1",
    "qwen2, lora, 2, sgd,   1",
    "qwen2, mini, 8, adamw, 4",
  })
  void matchesTheCpuEngine(String type, String method, int r, String optimizer, int miniR) {
    ModelConfig config = RandomModels.tinyConfig(type, 2);
    BaseModel base = RandomModels.model(config, DataType.FLOAT, type.equals("qwen2"), 11);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.fromId(method)).r(r).miniR(miniR).build();
    // clipping at 0.5 is active on these gradients; weight decay on for both optimizers
    TrainConfig train = TrainConfig.builder().optimizer(OptimizerKind.fromId(optimizer)).lr(2e-2)
        .weightDecay(0.01).maxGradNorm(0.5).batchSize(3).gradAccum(2).build();
    List<Example> data = examples(24, 3, config.vocabSize());
    try (DeviceBackends java = DeviceBackends.on(new JavaDevice(), Precision.FP32)) {
      compare(base, adapter, train, data, java);
      compare(base, adapter, train, data, BackendFactory.CPU);
    }
  }

  private static void compare(BaseModel base, AdapterConfig adapter, TrainConfig train, List<Example> data,
      BackendFactory device) {
    try (Trainer dev = Trainer.create(base, adapter, train, device)) {
      Trainer cpu = Trainer.create(base, adapter, train, BackendFactory.ND4J);
      for (int s = 0; s < 4; s++) {
        List<Example> batch = data.subList(6 * s, 6 * s + 6);
        StepResult a = cpu.step(batch);
        StepResult b = dev.step(batch);
        assertEquals(a.loss(), b.loss(), 2e-5 * a.loss(), "loss of step " + s);
        assertEquals(a.gradNorm(), b.gradNorm(), 1e-4 * a.gradNorm(), "gradient norm of step " + s);
      }
      INDArray want = cpu.adapters().flatParameters();
      INDArray got = dev.adapters().flatParameters();
      double rel = got.sub(want).norm2Number().doubleValue() / want.norm2Number().doubleValue();
      assertTrue(rel < 1e-4, "adapter values differ by " + rel);
      assertTrue(want.norm2Number().doubleValue() > 1e-3, "no training happened");
      assertEquals(cpu.evaluate(data), dev.evaluate(data), 1e-5 * cpu.evaluate(data));
    }
  }
}
