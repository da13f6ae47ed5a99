package io.bonestream.core.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The architecture of a LLaMA-family decoder, read from a Hugging Face {@code config.json}.
 * Supported {@code model_type}s: llama (Llama 2/3, TinyLlama, SmolLM), mistral, qwen2.
 *
 * @param ropeScaling {@code null}, or the llama3 / linear scaling of the rotary frequencies
 * @param slidingWindow mistral's window; 0 when there is none. Sequences must fit in it.
 */
public record ModelConfig(
    String modelType,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    int vocabSize,
    int maxPositionEmbeddings,
    double rmsNormEps,
    double ropeTheta,
    @Nullable RopeScaling ropeScaling,
    boolean tieWordEmbeddings,
    int slidingWindow,
    int bosTokenId,
    int eosTokenId) {

  public static final Set<String> SUPPORTED_TYPES = Set.of("llama", "mistral", "qwen2");

  /** Rotary frequency scaling: {@code type} is "llama3" or "linear". */
  public record RopeScaling(
      String type, double factor, double lowFreqFactor, double highFreqFactor,
      int originalMaxPositionEmbeddings) {}

  public ModelConfig {
    if (numHeads % numKvHeads != 0) {
      throw new BonestreamException(
          "num_attention_heads " + numHeads + " is not a multiple of num_key_value_heads "
              + numKvHeads);
    }
    if (headDim % 2 != 0) {
      throw new BonestreamException("head_dim " + headDim + " must be even for rotary embeddings");
    }
  }

  /** Key/value heads are shared by this many query heads (grouped-query attention). */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  /**
   * The {@code config.json} of a plain llama: head dimension hidden / heads, untied head, no biases,
   * RMS norm epsilon 1e-5, default rotary base. For random models and the named benchmark shapes.
   */
  public static ObjectNode llamaJson(int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab,
      int maxPositions) {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("model_type", "llama");
    c.put("hidden_size", hidden);
    c.put("intermediate_size", intermediate);
    c.put("num_hidden_layers", layers);
    c.put("num_attention_heads", heads);
    c.put("num_key_value_heads", kvHeads);
    c.put("vocab_size", vocab);
    c.put("max_position_embeddings", maxPositions);
    c.put("rms_norm_eps", 1e-5);
    c.put("tie_word_embeddings", false);
    return c;
  }

  public static ModelConfig read(Path modelDir) {
    Path file = modelDir.resolve("config.json");
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("no config.json in model folder " + modelDir);
    }
    return fromJson(Json.readTree(file), file.toString());
  }

  public static ModelConfig fromJson(JsonNode c, String where) {
    String type = c.path("model_type").asText("");
    if (!SUPPORTED_TYPES.contains(type)) {
      throw new BonestreamException(
          "unsupported model_type '" + type + "' in " + where
              + " (supported: llama, mistral, qwen2)");
    }
    String act = c.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw new BonestreamException("unsupported hidden_act '" + act + "' in " + where
          + " (only silu)");
    }
    int hidden = required(c, "hidden_size", where);
    int heads = required(c, "num_attention_heads", where);
    int kv = c.path("num_key_value_heads").asInt(heads);
    int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
    RopeScaling scaling = null;
    JsonNode rs = c.path("rope_scaling");
    if (rs.isObject()) {
      String rt = rs.path("rope_type").asText(rs.path("type").asText(""));
      if (!rt.equals("llama3") && !rt.equals("linear") && !rt.equals("default")) {
        throw new BonestreamException("unsupported rope_scaling type '" + rt + "' in " + where
            + " (supported: llama3, linear)");
      }
      if (!rt.equals("default")) {
        scaling = new RopeScaling(rt, rs.path("factor").asDouble(1.0),
            rs.path("low_freq_factor").asDouble(1.0), rs.path("high_freq_factor").asDouble(4.0),
            rs.path("original_max_position_embeddings").asInt(8192));
      }
    }
    int window = 0;
    if (c.hasNonNull("sliding_window") && c.path("use_sliding_window").asBoolean(true)) {
      window = c.get("sliding_window").asInt();
    }
    return new ModelConfig(
        type,
        hidden,
        required(c, "intermediate_size", where),
        required(c, "num_hidden_layers", where),
        heads,
        kv,
        headDim,
        required(c, "vocab_size", where),
        c.path("max_position_embeddings").asInt(2048),
        c.path("rms_norm_eps").asDouble(1e-6),
        c.path("rope_theta").asDouble(10000.0),
        scaling,
        c.path("tie_word_embeddings").asBoolean(false),
        window,
        c.path("bos_token_id").asInt(1),
        firstInt(c.path("eos_token_id"), 2));
  }

  private static int firstInt(JsonNode n, int dflt) {
    if (n.isArray() && n.size() > 0) {
      return n.get(0).asInt();
    }
    return n.isNumber() ? n.asInt() : dflt;
  }

  private static int required(JsonNode c, String key, String where) {
    if (!c.hasNonNull(key) || !c.get(key).canConvertToInt() || c.get(key).asInt() <= 0) {
      throw new BonestreamException("missing or invalid '" + key + "' in " + where);
    }
    return c.get(key).asInt();
  }
}
