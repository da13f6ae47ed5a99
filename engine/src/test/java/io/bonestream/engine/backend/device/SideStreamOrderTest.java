package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.DeviceBackends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * bat's merges and dB on a side stream ({@code adapters.bat.BatScratch}) give the same bits as every call in
 * order, whichever way the two streams interleave: training on a simulated two-stream device
 * (main first, side first, random) against the same device with one stream. A missing wait between
 * the streams shows here as other values or as a reported deadlock. With activation recomputation
 * each layer's forward and backward passes merge their own weights on the side stream, one pass
 * after another: the same bits again.
 */
class SideStreamOrderTest {
  @ParameterizedTest(name = "{0} seed {1} recompute {2}")
  @CsvSource({"MAIN_FIRST, 0, false", "SIDE_FIRST, 0, false", "RANDOM, 1, false", "RANDOM, 2, false",
      "RANDOM, 3, false", "MAIN_FIRST, 0, true", "SIDE_FIRST, 0, true", "RANDOM, 4, true"})
  void batOnTwoStreamsEqualsOneStream(TwoStreamDevice.Policy policy, long seed, boolean recompute) {
    ModelConfig config = RandomModels.tinyConfig("llama", 2);
    BaseModel base = RandomModels.model(config, DataType.FLOAT, false, 5);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    TrainConfig train = TrainConfig.builder().optimizer(OptimizerKind.ADAMW).lr(2e-2).weightDecay(0.01)
        .maxGradNorm(0.5).batchSize(3).gradAccum(2).build();
    List<Example> data = DeviceBackendOracleTest.examples(18, 7, config.vocabSize());

    Run one = run(new JavaDevice(), base, adapter, train, data, false);
    TwoStreamDevice two = TwoStreamDevice.over(new JavaDevice(), policy, seed);
    Run got = run(two.device(), base, adapter, train, data, recompute);

    assertTrue(two.sideCalls() > 0, "nothing ran on the side stream");
    assertArrayEquals(one.losses, got.losses, "losses step by step");
    assertArrayEquals(one.values, got.values, "adapter values after training");
    assertEquals(one.eval, got.eval, "held-out loss");
  }

  private record Run(double[] losses, float[] values, double eval) { }

  private static Run run(Device device, BaseModel base, AdapterConfig adapter, TrainConfig train,
      List<Example> data, boolean recompute) {
    try (DeviceBackends backends = DeviceBackends.on(device, Precision.FP32);
        Trainer trainer = Trainer.create(base, adapter, train, backends.recomputing(recompute))) {
      List<Double> losses = new ArrayList<>();
      for (int s = 0; s < 3; s++) {
        losses.add(trainer.step(data.subList(6 * s, 6 * s + 6)).loss());
      }
      return new Run(losses.stream().mapToDouble(Double::doubleValue).toArray(),
          trainer.adapters().flatParameters().toFloatVector(), trainer.evaluate(data));
    }
  }
}
