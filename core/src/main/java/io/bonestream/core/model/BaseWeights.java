package io.bonestream.core.model;

/**
 * What the PEFT conversions need of a base model: its identity and, for {@code bat} (whose ΔW
 * depends on W), a projection's weight. The memory-mapped {@link HostModel} is one; the engine's
 * ND4J model is another.
 */
public interface BaseWeights {
  /** The model folder's name, written as {@code base_model_name_or_path}. */
  String name();

  /** SHA-256 (hex) of the stored weights (see {@link HostModel}). */
  String fingerprint();

  ModelConfig config();

  /** The weight (O, I) of a projection as float32, C order, by module path (e.g. {@code model.layers.0.mlp.up_proj}). */
  float[] projectionWeight(String modulePath);
}
