package io.bonestream.engine.model;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.BaseWeights;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.util.Nd4jClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The frozen weights of a LLaMA-family model as ND4J arrays, for the reference engine and
 * generation: made from a {@link HostModel} (which reads the folder and computes the fingerprint),
 * loaded once and shared read-only by every adapter.
 */
public final class BaseModel implements BaseWeights {
  /** One decoder layer: its two RMSNorm weights and seven projections. */
  public record Layer(INDArray inputNorm, INDArray postAttentionNorm, Map<Projection, Linear> projections) {
    public Linear projection(Projection p) {
      return projections.get(p);
    }
  }

  private final String name;
  private final ModelConfig config;
  private final String fingerprint;
  private final DataType dataType;
  private final INDArray embedTokens;
  private final INDArray finalNorm;
  private final INDArray lmHead;
  private final List<Layer> layers;
  private @Nullable HostModel host;

  private BaseModel(String name, ModelConfig config, String fingerprint, DataType dataType,
      INDArray embedTokens, INDArray finalNorm, INDArray lmHead, List<Layer> layers) {
    this.name = name;
    this.config = config;
    this.fingerprint = fingerprint;
    this.dataType = dataType;
    this.embedTokens = embedTokens;
    this.finalNorm = finalNorm;
    this.lmHead = lmHead;
    this.layers = List.copyOf(layers);
  }

  /** Loads a Hugging Face model folder, computing in float32. */
  public static BaseModel load(Path dir) {
    return load(dir, DataType.FLOAT);
  }

  /**
   * Loads a Hugging Face model folder ({@code config.json} and {@code model.safetensors} or a
   * sharded {@code model.safetensors.index.json}); F32, F16, BF16 and F64 tensors are converted to
   * {@code dataType} (FLOAT, or DOUBLE for gradient checks).
   */
  public static BaseModel load(Path dir, DataType dataType) {
    Nd4jClassLoader.useNd4jsOwn(); // every job loads its model first: no stale class loader after it
    return of(HostModel.load(dir), dataType);
  }

  /** The ND4J arrays of a host model's tensors, in {@code dataType}. */
  public static BaseModel of(HostModel host, DataType dataType) {
    Map<String, INDArray> tensors = new TreeMap<>();
    for (String name : host.tensorNames()) {
      tensors.put(name, Dtypes.toArray(host.rawBytes(name), host.dtype(name), host.shape(name), dataType));
    }
    BaseModel m = fromTensors(host.name(), host.config(), tensors, host.fingerprint());
    m.host = host;
    return m;
  }

  /** The host model this one was made from (what the subscriber checks adapters against). */
  public HostModel host() {
    if (host == null) {
      throw new BonestreamException("the model " + name + " was not loaded from a model folder");
    }
    return host;
  }

  /** Builds a model from tensors under Hugging Face names (used for loaded and random models). */
  public static BaseModel fromTensors(String name, ModelConfig c, Map<String, INDArray> t,
      String fingerprint) {
    DataType type = t.get("model.embed_tokens.weight") == null
        ? DataType.FLOAT : t.get("model.embed_tokens.weight").dataType();
    int d = c.hiddenSize();
    INDArray embed = tensor(t, "model.embed_tokens.weight", c.vocabSize(), d);
    INDArray norm = tensor(t, "model.norm.weight", d);
    INDArray head;
    if (t.containsKey("lm_head.weight")) {
      head = tensor(t, "lm_head.weight", c.vocabSize(), d);
    } else if (c.tieWordEmbeddings()) {
      head = embed;
    } else {
      throw new BonestreamException(
          "model weights lack lm_head.weight and config.json does not set tie_word_embeddings");
    }
    int q = c.numHeads() * c.headDim();
    int kv = c.numKvHeads() * c.headDim();
    int f = c.intermediateSize();
    List<Layer> layers = new ArrayList<>();
    for (int i = 0; i < c.numLayers(); i++) {
      Map<Projection, Linear> p = new EnumMap<>(Projection.class);
      p.put(Projection.Q_PROJ, linear(t, Projection.Q_PROJ.modulePath(i), q, d));
      p.put(Projection.K_PROJ, linear(t, Projection.K_PROJ.modulePath(i), kv, d));
      p.put(Projection.V_PROJ, linear(t, Projection.V_PROJ.modulePath(i), kv, d));
      p.put(Projection.O_PROJ, linear(t, Projection.O_PROJ.modulePath(i), d, q));
      p.put(Projection.GATE_PROJ, linear(t, Projection.GATE_PROJ.modulePath(i), f, d));
      p.put(Projection.UP_PROJ, linear(t, Projection.UP_PROJ.modulePath(i), f, d));
      p.put(Projection.DOWN_PROJ, linear(t, Projection.DOWN_PROJ.modulePath(i), d, f));
      String prefix = "model.layers." + i + ".";
      layers.add(new Layer(tensor(t, prefix + "input_layernorm.weight", d),
          tensor(t, prefix + "post_attention_layernorm.weight", d), p));
    }
    return new BaseModel(name, c, fingerprint, type, embed, norm, head, layers);
  }

  private static Linear linear(Map<String, INDArray> t, String path, int out, int in) {
    INDArray w = tensor(t, path + ".weight", out, in);
    INDArray b = t.containsKey(path + ".bias") ? tensor(t, path + ".bias", out) : null;
    return new Linear(w, b);
  }

  private static INDArray tensor(Map<String, INDArray> t, String key, long... shape) {
    INDArray a = t.get(key);
    if (a == null) {
      throw new BonestreamException("model weights lack tensor " + key);
    }
    if (!Arrays.equals(a.shape(), shape)) {
      throw new BonestreamException("tensor " + key + " has shape " + Arrays.toString(a.shape())
          + ", config.json implies " + Arrays.toString(shape));
    }
    return a;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  /** SHA-256 (hex) of the stored weights; pairs adapters with the base they were trained on. */
  @Override
  public String fingerprint() {
    return fingerprint;
  }

  public DataType dataType() {
    return dataType;
  }

  /** (vocab, hidden). */
  public INDArray embedTokens() {
    return embedTokens;
  }

  /** (hidden). */
  public INDArray finalNorm() {
    return finalNorm;
  }

  /** (vocab, hidden); the same array as {@link #embedTokens()} when tied. */
  public INDArray lmHead() {
    return lmHead;
  }

  public List<Layer> layers() {
    return layers;
  }

  public Layer layer(int i) {
    return layers.get(i);
  }

  /** Every tensor under its Hugging Face name (tied head omitted), e.g. for a merged export. */
  public Map<String, INDArray> namedTensors() {
    Map<String, INDArray> out = new TreeMap<>();
    out.put("model.embed_tokens.weight", embedTokens);
    out.put("model.norm.weight", finalNorm);
    if (lmHead != embedTokens) {
      out.put("lm_head.weight", lmHead);
    }
    for (int i = 0; i < layers.size(); i++) {
      Layer l = layers.get(i);
      out.put("model.layers." + i + ".input_layernorm.weight", l.inputNorm());
      out.put("model.layers." + i + ".post_attention_layernorm.weight", l.postAttentionNorm());
      for (Projection p : Projection.values()) {
        Linear lin = l.projection(p);
        out.put(p.modulePath(i) + ".weight", lin.weight());
        if (lin.bias() != null) {
          out.put(p.modulePath(i) + ".bias", lin.bias());
        }
      }
    }
    return out;
  }

  /**
   * A model that shares this one's tensors except the projection weights given, keyed by module
   * path (e.g. {@code model.layers.0.self_attn.q_proj}): how adapters are merged for inference.
   */
  public BaseModel withProjectionWeights(Map<String, INDArray> weights) {
    List<Layer> out = new ArrayList<>();
    for (int i = 0; i < layers.size(); i++) {
      Layer l = layers.get(i);
      Map<Projection, Linear> p = new EnumMap<>(Projection.class);
      for (Projection proj : Projection.values()) {
        INDArray w = weights.get(proj.modulePath(i));
        Linear old = l.projection(proj);
        p.put(proj, w == null ? old : new Linear(w, old.bias()));
      }
      out.add(new Layer(l.inputNorm(), l.postAttentionNorm(), p));
    }
    BaseModel m = new BaseModel(name, config, fingerprint, dataType, embedTokens, finalNorm, lmHead, out);
    m.host = host;
    return m;
  }

  @Override
  public float[] projectionWeight(String modulePath) {
    for (int i = 0; i < layers.size(); i++) {
      for (Projection p : Projection.values()) {
        if (p.modulePath(i).equals(modulePath)) {
          return layers.get(i).projection(p).weight().castTo(DataType.FLOAT).dup('c').data().asFloat();
        }
      }
    }
    throw new BonestreamException("the model has no projection " + modulePath);
  }

  /** Parameter count of the base model (tied head counted once). */
  public long parameterCount() {
    long n = 0;
    for (INDArray a : namedTensors().values()) {
      n += a.length();
    }
    return n;
  }

}
