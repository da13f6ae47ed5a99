package io.bonestream.engine.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import org.nd4j.linalg.api.buffer.DataType;

/** Small random models for gradient checks and shape tests. */
public final class RandomModels {
  private RandomModels() {}

  /** A config: hidden 16, 4 heads of 4, 2 key/value heads (GQA), intermediate 24, vocab 32. */
  public static ModelConfig tinyConfig(String modelType, int layers) {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("model_type", modelType);
    c.put("hidden_size", 16);
    c.put("intermediate_size", 24);
    c.put("num_hidden_layers", layers);
    c.put("num_attention_heads", 4);
    c.put("num_key_value_heads", 2);
    c.put("vocab_size", 32);
    c.put("max_position_embeddings", 64);
    c.put("rms_norm_eps", 1e-5);
    c.put("tie_word_embeddings", false);
    return ModelConfig.fromJson(c, "test config");
  }

  /** Random weights N(0, 0.3²), norms near 1; q/k/v biases when {@code biases}. */
  public static BaseModel model(ModelConfig c, DataType type, boolean biases, long seed) {
    return RandomModel.create(c, type, 0.3, 0.1, biases, seed);
  }
}
