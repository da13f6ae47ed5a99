package io.bonestream.engine.backend.device;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.TokenBatch;
import org.jspecify.annotations.Nullable;

/**
 * The device backend of the training seam: one adapter set's values, gradients and optimizer
 * moments on a {@link Device}, trained on a shared {@link DeviceModel}. The loop around it
 * ({@link io.bonestream.engine.backend.TrainingSession}) is the CPU engine's.
 */
public final class DeviceTrainer implements TrainingBackend {
  private final DeviceTransformer model;
  private final Device d;
  private final DeviceAdapters adapters;
  private final TrainConfig config;
  private final boolean recompute;
  private boolean closed;

  private DeviceTrainer(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      boolean recompute, float @Nullable [] initial) {
    this.model = model;
    this.d = model.model().device();
    this.config = config;
    this.recompute = recompute;
    this.adapters = new DeviceAdapters(d, model.model().config(), model.model().activationType(),
        adapterConfig, config.optimizer() == OptimizerKind.ADAMW);
    if (initial == null) {
      return; // sizing: nothing to load
    }
    if (initial.length != adapters.layout.size()) {
      throw new BonestreamException("initial adapter values: " + initial.length + " given, the layout has "
          + adapters.layout.size());
    }
    loadParameters(initial);
  }

  private DeviceTrainer(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      boolean recompute, Buf values, Buf grads) {
    this.model = model;
    this.d = model.model().device();
    this.config = config;
    this.recompute = recompute;
    this.adapters = new DeviceAdapters(d, model.model().config(), model.model().activationType(),
        adapterConfig, config.optimizer() == OptimizerKind.ADAMW, values, grads);
  }

  /** A trainer whose values are left as allocated: only for sizing a step ({@link MemoryPlan}). */
  static DeviceTrainer sized(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      boolean recompute) {
    return new DeviceTrainer(model, adapterConfig, config, recompute, (float[]) null);
  }

  /** A trainer of {@code adapterConfig} on {@code model}, starting from {@code initial} (layout order). */
  public static DeviceTrainer open(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      float[] initial) {
    return open(model, adapterConfig, config, false, initial);
  }

  /**
   * {@link #open(DeviceTransformer, AdapterConfig, TrainConfig, float[])}, with activation
   * recomputation when {@code recompute}: each step keeps only every layer's input and recomputes
   * the rest in the backward pass (the same values, less memory, about one more forward pass of time).
   */
  public static DeviceTrainer open(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      boolean recompute, float[] initial) {
    return new DeviceTrainer(model, adapterConfig, config, recompute, initial);
  }

  /**
   * A trainer that trains {@code values} and accumulates into {@code grads} in place (F32, layout
   * order, on the model's device): the CPU device over the host adapters' own arrays, so that an
   * adapter's values and gradients exist once. They must outlive the trainer.
   */
  public static DeviceTrainer borrowing(DeviceTransformer model, AdapterConfig adapterConfig, TrainConfig config,
      boolean recompute, Buf values, Buf grads) {
    return new DeviceTrainer(model, adapterConfig, config, recompute, values, grads);
  }

  @Override
  public boolean trainsHostAdapters() {
    return adapters.borrowed;
  }

  public DeviceTransformer transformer() {
    return model;
  }

  @Override
  public String describe() {
    return model.model().precision() + (recompute ? ", recomputing activations" : "") + " on " + d.describe();
  }

  @Override
  public long parameterCount() {
    return adapters.layout.size();
  }

  /** Device bytes this adapter set holds (values, gradients, act copy, moments). */
  public long adapterBytes() {
    return adapters.bytes();
  }

  @Override
  public void zeroGradients() {
    d.zero(adapters.grads);
  }

  @Override
  public LossSum forwardBackward(TokenBatch batch, double lossDenominator) {
    return model.forwardBackward(adapters, batch, lossDenominator, recompute);
  }

  @Override
  public LossSum loss(TokenBatch batch) {
    return model.loss(adapters, batch);
  }

  /** Logits (T, V) of every position of one sequence with these adapters. */
  public float[] logits(int[] ids) {
    return model.logits(adapters, ids);
  }

  @Override
  public double gradientNorm() {
    return Math.sqrt(d.sumOfSquares(adapters.grads));
  }

  @Override
  public void update(double gradScale, double lr, long update) {
    float scale = (float) gradScale;
    if (config.optimizer() == OptimizerKind.SGD) {
      d.sgd(adapters.values, adapters.grads, (float) lr, (float) config.weightDecay(), scale);
    } else {
      double bias1 = 1.0 - Math.pow(config.beta1(), update);
      double bias2 = 1.0 - Math.pow(config.beta2(), update);
      d.adamw(adapters.values, adapters.grads, adapters.expAvg, adapters.expAvgSq, (float) lr,
          (float) config.beta1(), (float) config.beta2(), (float) config.eps(), (float) config.weightDecay(),
          (float) bias1, (float) Math.sqrt(bias2), scale);
    }
    adapters.valuesChanged();
  }

  @Override
  public float[] parameters() {
    return d.download(adapters.values.slice(0, adapters.layout.size()));
  }

  @Override
  public void loadParameters(float[] values) {
    d.upload(values, adapters.values.slice(0, adapters.layout.size()));
    adapters.valuesChanged();
  }

  @Override
  public float[][] moments() {
    if (adapters.expAvg == null) {
      return new float[0][];
    }
    long n = adapters.layout.size();
    return new float[][] {d.download(adapters.expAvg.slice(0, n)), d.download(adapters.expAvgSq.slice(0, n))};
  }

  @Override
  public void loadMoments(float[] first, float[] second) {
    long n = adapters.layout.size();
    d.upload(first, adapters.expAvg.slice(0, n));
    d.upload(second, adapters.expAvgSq.slice(0, n));
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      synchronized (model.model()) {
        adapters.close();
      }
    }
  }
}
