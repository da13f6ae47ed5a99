package io.bonestream.subscriber;

import io.bonestream.core.model.HostModel;
import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.schemas.TrainingStats;
import java.time.Instant;
import java.util.List;

/**
 * One immutable adapter version, {@code adapter@version}, verified against this subscriber's base
 * model: the PEFT files as published and their tensors as plain arrays (no ND4J; to generate with
 * it, the serve module loads it onto the engine's model). It never changes once built; a newer version is a new object.
 *
 * <p>A version the subscriber verified keeps only the published bytes: {@link #adapter()} reads its
 * tensors from them at each call (they were checked when the version was verified). Every use of the
 * tensors turns them into something else (a LoRA for vLLM, ND4J arrays to generate with) and keeps
 * that, so the subscriber's versions, a few per adapter, hold each adapter once, not twice or three
 * times (float32 beside bf16 bytes).
 */
public final class AdapterVersion {
  private final String adapterId;
  private final long version;
  private final Instant createdAt;
  private final String method;
  private final int r;
  private final List<String> targetModules;
  private final TrainingStats stats;
  /** Null in a version built from the published bytes alone (read at each {@link #adapter()}). */
  private final PeftAdapter adapter;
  private final HostModel base;
  private final String configJson;
  private final byte[] weights;

  /**
   * A version from its parts. The subscriber makes the versions it serves only after verifying
   * them; this constructor is for tests and for services that load a version from elsewhere.
   */
  public AdapterVersion(String adapterId, long version, Instant createdAt, String method, int r,
      List<String> targetModules, TrainingStats stats, PeftAdapter adapter, HostModel base,
      String configJson, byte[] weights) {
    this.adapterId = adapterId;
    this.version = version;
    this.createdAt = createdAt;
    this.method = method;
    this.r = r;
    this.targetModules = List.copyOf(targetModules);
    this.stats = stats;
    this.adapter = adapter;
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

  /** bat, bone, lora or mini. */
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

  /**
   * A version verified by the subscriber: its tensors are read from {@code weights} when asked for
   * (the subscriber read and checked them before building it).
   */
  AdapterVersion(String adapterId, long version, Instant createdAt, String method, int r,
      List<String> targetModules, TrainingStats stats, HostModel base, String configJson, byte[] weights) {
    this(adapterId, version, createdAt, method, r, targetModules, stats, null, base, configJson, weights);
  }

  /**
   * The adapter's tensors as plain arrays, checked against the base model's shapes (do not modify
   * them). A version the subscriber verified reads them from its published bytes at each call (a
   * float32 copy of the adapter): keep what you build from them rather than calling this again.
   */
  public PeftAdapter adapter() {
    return adapter != null ? adapter : PeftAdapter.read(configJson, weights, base, name());
  }

  /** The base model the adapter was verified against. */
  public HostModel base() {
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

  @Override
  public String toString() {
    return name();
  }
}
