package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.model.BaseModel;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The {@code cpu} backend: trainers of the device backend ({@link DeviceTrainer}) on this JVM's
 * {@link CpuDevice}, over the ND4J base model's own weights (viewed in place, never copied), and
 * over each adapter set's own host arrays. Each base model gets one {@link DeviceTransformer} (its
 * activation workspace) shared by every trainer on it; the cache forgets it with the base model,
 * and its memory goes when the last trainer on it does. Models that are not float32 (float64 for
 * gradient checks) train on the ND4J reference engine ({@link Nd4jBackend}).
 */
public final class CpuBackends {
  private static final Map<BaseModel, DeviceTransformer> MODELS = new WeakHashMap<>();

  private CpuBackends() {}

  /** A trainer of {@code adapters} on {@code base}, starting from their current values. */
  public static TrainingBackend open(BaseModel base, AdapterSet adapters, TrainConfig config) {
    return open(base, adapters, config, false);
  }

  /** {@link #open(BaseModel, AdapterSet, TrainConfig)}, recomputing activations in the backward pass or not. */
  public static TrainingBackend open(BaseModel base, AdapterSet adapters, TrainConfig config, boolean recompute) {
    if (base.dataType() != DataType.FLOAT) {
      return new Nd4jBackend(base, adapters, config);
    }
    // the adapters' own flat arrays, trained in place: values and gradients exist once
    return DeviceTrainer.borrowing(model(base), adapters.config(), config, recompute,
        CpuDevice.wrap(adapters.flatParameters()), CpuDevice.wrap(adapters.flatGradients()));
  }

  /** The CPU device's model of {@code base} (float32), made on first use. */
  public static synchronized DeviceTransformer model(BaseModel base) {
    DeviceTransformer m = MODELS.get(base);
    if (m == null) {
      m = model(base, CpuDevice.get());
      MODELS.put(base, m); // weakly: the views keep the weights' arrays, not the base model, alive
    }
    return m;
  }

  /**
   * A new model of {@code base} on {@code device} (the CPU device, or a wrapper of it), over views
   * of the base model's memory; the caller closes it.
   */
  public static DeviceTransformer model(BaseModel base, Device device) {
    Map<String, Buf> views = new LinkedHashMap<>();
    for (Map.Entry<String, INDArray> e : base.namedTensors().entrySet()) {
      views.put(e.getKey(), CpuDevice.wrap(e.getValue()));
    }
    return new DeviceTransformer(DeviceModel.borrow(device, base.config(), base.name(), base.fingerprint(), views));
  }
}
