package io.bonestream.engine.backend.cuda;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.Device;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Trains one adapter on a device and on the CPU engine (the CPU device in fp32: the default
 * {@code cpu} backend, itself held to the ND4J engine by the engine's DeviceBackendOracleTest),
 * from the same random model (drawn on each device by the counter-based generator, equal up to
 * the last bit of float32 transcendentals) and the same data, and compares them step by step.
 */
final class TrainingComparison {
  private static final float STD = 0.08f;
  private static final long MODEL_SEED = 17;

  private TrainingComparison() {}

  /**
   * @param referenceLoss the CPU engine's loss at each step
   * @param loss the device's
   * @param updateDistance ‖device − CPU‖ / ‖CPU − initial‖ of the adapter values after the last
   *     step: the error relative to how far training moved them
   */
  record Outcome(double[] referenceLoss, double[] loss, double updateDistance) {
    double worstLossDifference() {
      double worst = 0;
      for (int i = 0; i < loss.length; i++) {
        double d = Math.abs(loss[i] - referenceLoss[i]) / Math.abs(referenceLoss[i]);
        worst = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(worst, d);
      }
      return worst;
    }

    @Override
    public String toString() {
      return String.format(Locale.ROOT, "losses %s vs CPU %s: worst relative difference %.2e; update distance %.2e",
          Arrays.toString(round(loss)), Arrays.toString(round(referenceLoss)), worstLossDifference(), updateDistance);
    }

    private static String[] round(double[] v) {
      String[] s = new String[v.length];
      for (int i = 0; i < v.length; i++) {
        s[i] = String.format(Locale.ROOT, "%.5f", v[i]);
      }
      return s;
    }
  }

  /** A llama-shaped config without biases (what {@link DeviceModel#random} draws). */
  static ModelConfig config(int hidden, int intermediate, int heads, int kvHeads, int vocab, int layers) {
    return ModelConfig.fromJson(ModelConfig.llamaJson(hidden, intermediate, layers, heads, kvHeads, vocab, 256),
        "comparison config");
  }

  /** {@code count} random sequences of 8 to 31 tokens (of different lengths: padding is exercised). */
  static List<Example> data(int count, int vocab, long seed) {
    return data(count, vocab, seed, 8, 32);
  }

  /** count random examples of minLength to maxLength − 1 tokens, every token a target. */
  static List<Example> data(int count, int vocab, long seed, int minLength, int maxLength) {
    Rng rng = new Rng(seed);
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      int[] ids = new int[minLength + rng.nextInt(maxLength - minLength)];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 1 + rng.nextInt(vocab - 1);
      }
      out.add(new Example(ids, ids.clone()));
    }
    return out;
  }

  /** {@code steps} steps of {@code train.batchSize()} examples each, on {@code device} and on the CPU engine. */
  static Outcome run(Device device, Precision precision, ModelConfig config, AdapterConfig adapter, TrainConfig train,
      List<Example> data, int steps) {
    AdapterLayout layout = AdapterLayout.of(config, adapter);
    float[] initial = layout.initialValues(new Rng(train.seed()));
    double[] referenceLoss = new double[steps];
    double[] loss = new double[steps];
    float[] reference = train(CpuDevice.get(), Precision.FP32, config, adapter, train, initial, data, referenceLoss);
    float[] got = train(device, precision, config, adapter, train, initial, data, loss);
    double diff = 0;
    double moved = 0;
    for (int i = 0; i < reference.length; i++) {
      diff += Math.pow((double) got[i] - reference[i], 2);
      moved += Math.pow((double) reference[i] - initial[i], 2);
    }
    return new Outcome(referenceLoss, loss, moved > 0 ? Math.sqrt(diff / moved) : Double.NaN);
  }

  private static float[] train(Device device, Precision precision, ModelConfig config, AdapterConfig adapter,
      TrainConfig train, float[] initial, List<Example> data, double[] losses) {
    try (DeviceModel model = DeviceModel.random(device, config, precision, STD, MODEL_SEED);
        DeviceTrainer trainer = DeviceTrainer.open(new DeviceTransformer(model), adapter, train, initial.clone())) {
      TrainingSession session = new TrainingSession(trainer, train, new Rng(train.seed()));
      int b = train.batchSize();
      for (int s = 0; s < losses.length; s++) {
        losses[s] = session.step(data.subList(b * s, b * s + b)).loss();
      }
      return trainer.parameters();
    }
  }
}
