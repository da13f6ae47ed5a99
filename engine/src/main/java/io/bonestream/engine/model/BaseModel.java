package io.bonestream.engine.model;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterLayout;
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
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The frozen weights of a LLaMA-family model as ND4J arrays, for the reference engine, the CPU
 * backend and generation; shared read-only by every adapter. A model loaded from a folder is made
 * from its {@link HostModel} (which reads the folder and computes the fingerprint) and makes its
 * arrays when something first computes with them ({@link #materialized()}): a trainer on a GPU
 * uploads from the host model and never makes this float32 copy.
 */
public final class BaseModel implements BaseWeights {
  /** One decoder layer: its two RMSNorm weights and seven projections. */
  public record Layer(INDArray inputNorm, INDArray postAttentionNorm, Map<Projection, Linear> projections) {
    public Linear projection(Projection p) {
      return projections.get(p);
    }
  }

  /** The arrays: made at once for a model built from tensors, on first use for a loaded one. */
  private record Arrays4j(INDArray embedTokens, INDArray finalNorm, INDArray lmHead, List<Layer> layers) {}

  private final String name;
  private final ModelConfig config;
  private final String fingerprint;
  private final DataType dataType;
  private final @Nullable HostModel host;
  private final Linear[][] projections; // [layer][projection]: shape known, arrays made on use
  private volatile @Nullable Arrays4j arrays;

  private BaseModel(String name, ModelConfig config, String fingerprint, DataType dataType,
      @Nullable HostModel host, @Nullable Arrays4j arrays) {
    this.name = name;
    this.config = config;
    this.fingerprint = fingerprint;
    this.dataType = dataType;
    this.host = host;
    this.arrays = arrays;
    this.projections = new Linear[config.numLayers()][Projection.values().length];
    for (int l = 0; l < config.numLayers(); l++) {
      for (Projection p : Projection.values()) {
        int layer = l;
        projections[l][p.ordinal()] = arrays != null ? arrays.layers().get(l).projection(p)
            : Linear.lazy(AdapterLayout.outFeatures(config, p), AdapterLayout.inFeatures(config, p),
                () -> arrays().layers().get(layer).projection(p));
      }
    }
  }

  /** Loads a Hugging Face model folder, computing in float32. */
  public static BaseModel load(Path dir) {
    return load(dir, DataType.FLOAT);
  }

  /**
   * Loads a Hugging Face model folder ({@code config.json} and {@code model.safetensors} or a
   * sharded {@code model.safetensors.index.json}); F32, F16, BF16 and F64 tensors are converted to
   * {@code dataType} (FLOAT, or DOUBLE for gradient checks) when the arrays are first used.
   */
  public static BaseModel load(Path dir, DataType dataType) {
    Nd4jClassLoader.useNd4jsOwn(); // every job loads its model first: no stale class loader after it
    return of(HostModel.load(dir), dataType);
  }

  /** The ND4J model of a host model's tensors in {@code dataType}; the arrays are made on first use. */
  public static BaseModel of(HostModel host, DataType dataType) {
    return new BaseModel(host.name(), host.config(), host.fingerprint(), dataType, host, null);
  }

  /** Whether the ND4J arrays exist yet (a model used only by a GPU backend never makes them). */
  public boolean materialized() {
    return arrays != null;
  }

  private Arrays4j arrays() {
    Arrays4j a = arrays;
    if (a == null) {
      synchronized (this) {
        a = arrays;
        if (a == null) {
          HostModel h = java.util.Objects.requireNonNull(host);
          // first used inside a pass's workspace, perhaps: the model outlives every workspace
          try (MemoryWorkspace outside = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            Map<String, INDArray> tensors = new TreeMap<>();
            for (String t : h.tensorNames()) {
              tensors.put(t, Dtypes.toArray(h.rawBytes(t), h.dtype(t), h.shape(t), dataType));
            }
            a = fromTensors(name, config, tensors, fingerprint).arrays;
          }
          arrays = a;
        }
      }
    }
    return a;
  }

  /** The host model this one was made from (what the subscriber checks adapters against, what a GPU uploads). */
  public HostModel host() {
    if (host == null) {
      throw new BonestreamException("the model " + name + " was not loaded from a model folder");
    }
    return host;
  }

  /** Whether this model was loaded from a folder (and so has a {@link #host()}). */
  public boolean hasHost() {
    return host != null;
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
    return new BaseModel(name, c, fingerprint, type, null, new Arrays4j(embed, norm, head, List.copyOf(layers)));
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
    return arrays().embedTokens();
  }

  /** (hidden). */
  public INDArray finalNorm() {
    return arrays().finalNorm();
  }

  /** (vocab, hidden); the same array as {@link #embedTokens()} when tied. */
  public INDArray lmHead() {
    return arrays().lmHead();
  }

  public List<Layer> layers() {
    return arrays().layers();
  }

  public Layer layer(int i) {
    return arrays().layers().get(i);
  }

  /** A projection of a layer; its arrays are made only when it computes (adapters take it by shape). */
  public Linear projection(int layer, Projection p) {
    return projections[layer][p.ordinal()];
  }

  /** Every tensor under its Hugging Face name (tied head omitted), e.g. for a merged export. */
  public Map<String, INDArray> namedTensors() {
    Arrays4j a = arrays();
    List<Layer> layers = a.layers();
    Map<String, INDArray> out = new TreeMap<>();
    out.put("model.embed_tokens.weight", a.embedTokens());
    out.put("model.norm.weight", a.finalNorm());
    if (a.lmHead() != a.embedTokens()) {
      out.put("lm_head.weight", a.lmHead());
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
    Arrays4j a = arrays();
    List<Layer> layers = a.layers();
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
    return new BaseModel(name, config, fingerprint, dataType, host,
        new Arrays4j(a.embedTokens(), a.finalNorm(), a.lmHead(), List.copyOf(out)));
  }

  @Override
  public float[] projectionWeight(String modulePath) {
    if (host != null && arrays == null) {
      return host.projectionWeight(modulePath); // no ND4J copy made for one weight
    }
    for (int i = 0; i < config.numLayers(); i++) {
      for (Projection p : Projection.values()) {
        if (p.modulePath(i).equals(modulePath)) {
          return projection(i, p).weight().castTo(DataType.FLOAT).dup('c').data().asFloat();
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
