package io.bonestream.engine.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import java.util.Map;
import java.util.TreeMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Randomly initialized LLaMA models of any shape: for benchmarks and tests. */
public final class RandomModel {
  private RandomModel() {}

  /** A llama config; head dim = hidden / heads, untied head. */
  public static ModelConfig config(int hidden, int layers, int heads, int kvHeads, int intermediate,
      int vocab, int maxPositions) {
    return ModelConfig.fromJson(configJson(hidden, layers, heads, kvHeads, intermediate, vocab, maxPositions),
        "random model");
  }

  /** The {@code config.json} of {@link #config}. */
  public static ObjectNode configJson(int hidden, int layers, int heads, int kvHeads, int intermediate,
      int vocab, int maxPositions) {
    return ModelConfig.llamaJson(hidden, intermediate, layers, heads, kvHeads, vocab, maxPositions);
  }

  /**
   * Weights drawn from N(0, std²), norm weights 1 + N(0, normStd²) (normStd 0 gives ones); with
   * q/k/v biases (N(0, std²)) when {@code biases}. Deterministic for a seed.
   */
  public static BaseModel create(ModelConfig c, DataType type, double std, double normStd,
      boolean biases, long seed) {
    return BaseModel.fromTensors("random-" + c.modelType() + "-" + c.hiddenSize() + "x" + c.numLayers(), c,
        tensors(c, type, std, normStd, biases, seed), "random-seed-" + seed);
  }

  /** The weights of {@link #create}, by their Hugging Face names. */
  public static Map<String, INDArray> tensors(ModelConfig c, DataType type, double std, double normStd,
      boolean biases, long seed) {
    Nd4j.getRandom().setSeed(seed);
    Map<String, INDArray> t = new TreeMap<>();
    int d = c.hiddenSize();
    int q = c.numHeads() * c.headDim();
    int kv = c.numKvHeads() * c.headDim();
    int f = c.intermediateSize();
    t.put("model.embed_tokens.weight", randn(type, std, c.vocabSize(), d));
    if (!c.tieWordEmbeddings()) {
      t.put("lm_head.weight", randn(type, std, c.vocabSize(), d));
    }
    t.put("model.norm.weight", randn(type, normStd, d).addi(1.0));
    for (int i = 0; i < c.numLayers(); i++) {
      t.put(Projection.Q_PROJ.modulePath(i) + ".weight", randn(type, std, q, d));
      t.put(Projection.K_PROJ.modulePath(i) + ".weight", randn(type, std, kv, d));
      t.put(Projection.V_PROJ.modulePath(i) + ".weight", randn(type, std, kv, d));
      t.put(Projection.O_PROJ.modulePath(i) + ".weight", randn(type, std, d, q));
      t.put(Projection.GATE_PROJ.modulePath(i) + ".weight", randn(type, std, f, d));
      t.put(Projection.UP_PROJ.modulePath(i) + ".weight", randn(type, std, f, d));
      t.put(Projection.DOWN_PROJ.modulePath(i) + ".weight", randn(type, std, d, f));
      if (biases) {
        t.put(Projection.Q_PROJ.modulePath(i) + ".bias", randn(type, std, q));
        t.put(Projection.K_PROJ.modulePath(i) + ".bias", randn(type, std, kv));
        t.put(Projection.V_PROJ.modulePath(i) + ".bias", randn(type, std, kv));
      }
      t.put("model.layers." + i + ".input_layernorm.weight", randn(type, normStd, d).addi(1.0));
      t.put("model.layers." + i + ".post_attention_layernorm.weight", randn(type, normStd, d).addi(1.0));
    }
    return t;
  }

  private static INDArray randn(DataType type, double std, long... shape) {
    INDArray a = Nd4j.randn(DataType.DOUBLE, shape).muli(std).castTo(type);
    return std == 0 ? a.assign(0) : a;
  }
}
