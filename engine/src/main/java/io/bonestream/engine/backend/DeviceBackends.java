package io.bonestream.engine.backend;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.model.BaseModel;
import java.util.IdentityHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link BackendFactory}s that train on a {@link Device}: each base model is uploaded once per
 * factory and shared by every trainer opened on it.
 */
public final class DeviceBackends implements BackendFactory, AutoCloseable {
  private final Device device;
  private final Precision precision;
  private final boolean recompute;
  private final Map<BaseModel, DeviceTransformer> models;

  private DeviceBackends(Device device, Precision precision, boolean recompute,
      Map<BaseModel, DeviceTransformer> models) {
    this.device = device;
    this.precision = precision;
    this.recompute = recompute;
    this.models = models;
  }

  /** A factory training on {@code device} in {@code precision}. */
  public static DeviceBackends on(Device device, Precision precision) {
    return new DeviceBackends(device, precision, false, new IdentityHashMap<>());
  }

  /**
   * A factory on the same device and models (closing either closes them) whose trainers recompute
   * activations in the backward pass when {@code on}.
   */
  public DeviceBackends recomputing(boolean on) {
    return new DeviceBackends(device, precision, on, models);
  }

  public Device device() {
    return device;
  }

  public Precision precision() {
    return precision;
  }

  /** The device copy of {@code base}, uploaded on first use. */
  public DeviceTransformer model(BaseModel base) {
    synchronized (models) {
      return models.computeIfAbsent(base, b -> new DeviceTransformer(upload(device, b, precision)));
    }
  }

  @Override
  public TrainingBackend open(BaseModel base, AdapterSet adapters, TrainConfig config) {
    float[] initial = adapters.flatParameters().castTo(DataType.FLOAT).dup().data().asFloat();
    return DeviceTrainer.open(model(base), adapters.config(), config, recompute, initial);
  }

  /**
   * Uploads a base model's weights: from its folder's memory-mapped files when it was loaded from
   * one (no ND4J copy is made), else from its ND4J arrays (models built in memory, in tests).
   */
  public static DeviceModel upload(Device device, BaseModel base, Precision precision) {
    if (base.hasHost()) {
      return DeviceModel.upload(device, base.host(), precision);
    }
    Map<String, float[]> tensors = new java.util.TreeMap<>();
    for (Map.Entry<String, INDArray> e : base.namedTensors().entrySet()) {
      tensors.put(e.getKey(), e.getValue().castTo(DataType.FLOAT).dup('c').data().asFloat());
    }
    return DeviceModel.fromTensors(device, base.config(), precision, base.name(), base.fingerprint(), tensors);
  }

  /** Frees the uploaded models. */
  @Override
  public void close() {
    synchronized (models) {
      models.values().forEach(m -> m.model().close());
      models.clear();
    }
  }
}
