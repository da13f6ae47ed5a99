package io.bonestream.subscriber;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.schemas.TrainingStats;
import java.time.Instant;
import java.util.List;

/**
 * One immutable adapter version, {@code adapter@version}, verified and loaded on this subscriber's
 * base model. It never changes once built; a newer version is a new object.
 */
public final class AdapterVersion {
  private final String adapterId;
  private final long version;
  private final Instant createdAt;
  private final String method;
  private final int r;
  private final List<String> targetModules;
  private final TrainingStats stats;
  private final AdapterSet adapters;
  private final BaseModel base;
  private final String configJson;
  private final byte[] weights;

  AdapterVersion(String adapterId, long version, Instant createdAt, String method, int r,
      List<String> targetModules, TrainingStats stats, AdapterSet adapters, BaseModel base,
      String configJson, byte[] weights) {
    this.adapterId = adapterId;
    this.version = version;
    this.createdAt = createdAt;
    this.method = method;
    this.r = r;
    this.targetModules = List.copyOf(targetModules);
    this.stats = stats;
    this.adapters = adapters;
    this.base = base;
    this.configJson = configJson;
    this.weights = weights;
  }

  public String adapterId() {
    return adapterId;
  }

  public long version() {
    return version;
  }

  /** {@code adapter@version}, the immutable name of this version. */
  public String name() {
    return adapterId + "@" + version;
  }

  public Instant createdAt() {
    return createdAt;
  }

  /** bat, bone or lora. */
  public String method() {
    return method;
  }

  public int r() {
    return r;
  }

  public List<String> targetModules() {
    return targetModules;
  }

  public TrainingStats stats() {
    return stats;
  }

  /** The adapter tensors on the base model (do not train or modify them). */
  public AdapterSet adapters() {
    return adapters;
  }

  /** The base model the adapter is loaded on. */
  public BaseModel base() {
    return base;
  }

  /** The PEFT {@code adapter_config.json} as published. */
  public String adapterConfigJson() {
    return configJson;
  }

  /** The PEFT {@code adapter_model.safetensors} bytes as published (a copy). */
  public byte[] adapterWeights() {
    return weights.clone();
  }

  /**
   * The base model with this adapter merged in: a new copy of the targeted weights at each call
   * (a version keeps none, so holding versions costs only their adapters; the inference server
   * keeps merged copies in a byte-bounded cache).
   */
  public BaseModel mergedModel() {
    return adapters.mergedInto(base);
  }

  @Override
  public String toString() {
    return name();
  }
}
