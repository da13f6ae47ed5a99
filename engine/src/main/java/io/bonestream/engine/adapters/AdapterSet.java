package io.bonestream.engine.adapters;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Linear;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * All adapters of one model, one per (layer, target projection), in a fixed order: layers
 * ascending, projections in {@link Projection} order. That order is the order of parameters in
 * the optimizer, the gradient-norm sum and the training state.
 */
public final class AdapterSet implements io.bonestream.engine.model.ProjectionOverrides {
  /** PEFT's key prefix for a LlamaForCausalLM wrapped in a PeftModel. */
  public static final String PEFT_PREFIX = AdapterLayout.PEFT_PREFIX;

  private final AdapterConfig config;
  private final @Nullable Adapter[][] byLayer; // [layer][projection ordinal]: the hot-path lookup
  private final ParameterStore store;
  private final int numLayers;

  private AdapterSet(AdapterConfig config, Map<String, Adapter> byPath, ParameterStore store, int numLayers) {
    this.config = config;
    // only the [layer][projection] table is kept: a map per live trainer would cost more than
    // a small adapter's numbers; byModulePath() makes one when asked
    this.store = store;
    this.numLayers = numLayers;
    this.byLayer = new Adapter[numLayers][Projection.values().length];
    for (int l = 0; l < numLayers; l++) {
      for (Projection p : config.targets()) {
        byLayer[l][p.ordinal()] = byPath.get(p.modulePath(l));
      }
    }
  }

  /**
   * Creates fresh adapters (zero for bat/bone, PEFT's init for LoRA from {@code rng}), after
   * checking every target's shape: nothing is built if one layer is wrong.
   */
  public static AdapterSet create(BaseModel model, AdapterConfig config, Rng rng) {
    // the layout checks every target's shape and gives the flat size; the store hands out the
    // slices in the layout's order (the adapters below are made in that order)
    long size = AdapterLayout.of(model.config(), config).size();
    ParameterStore store = new ParameterStore(model.dataType(), size);
    Map<String, Adapter> m = new LinkedHashMap<>();
    for (int l = 0; l < model.config().numLayers(); l++) {
      for (Projection p : config.targets()) {
        Linear base = model.projection(l, p);
        String path = p.modulePath(l);
        m.put(path, AdapterMethods.create(base, config, path, rng, store));
      }
    }
    return new AdapterSet(config, m, store, model.config().numLayers());
  }

  /** Refuses shapes the method cannot take, naming the layer and the numbers ({@link AdapterLayout}'s checks). */
  public static void validate(BaseModel model, AdapterConfig config) {
    AdapterLayout.of(model.config(), config);
  }

  public AdapterConfig config() {
    return config;
  }

  public int numLayers() {
    return numLayers;
  }

  /** The adapter of one projection, or null when it is not a target. */
  @Override
  public @Nullable Adapter adapter(int layer, Projection p) {
    return byLayer[layer][p.ordinal()];
  }

  /** Adapters by module path (e.g. {@code model.layers.0.self_attn.q_proj}), canonical order. */
  public Map<String, Adapter> byModulePath() {
    Map<String, Adapter> m = new LinkedHashMap<>();
    for (int l = 0; l < numLayers; l++) {
      for (Projection p : config.targets()) {
        m.put(p.modulePath(l), byLayer[l][p.ordinal()]);
      }
    }
    return Collections.unmodifiableMap(m);
  }

  /** The base model with every adapter merged into its weights (for fast inference). */
  public BaseModel mergedInto(BaseModel base) {
    return base.withProjectionWeights(mergedWeights());
  }

  /** Each targeted weight with its adapter merged in, by module path (new arrays). */
  public Map<String, INDArray> mergedWeights() {
    Map<String, INDArray> merged = new LinkedHashMap<>();
    byModulePath().forEach((path, a) -> merged.put(path, a.mergedWeight()));
    return merged;
  }

  public List<Adapter> adapters() {
    return List.copyOf(byModulePath().values());
  }

  public List<INDArray> parameters() {
    List<INDArray> out = new ArrayList<>();
    for (Adapter a : byModulePath().values()) {
      out.addAll(a.parameters());
    }
    return out;
  }

  public List<INDArray> gradients() {
    List<INDArray> out = new ArrayList<>();
    for (Adapter a : byModulePath().values()) {
      out.addAll(a.gradients());
    }
    return out;
  }

  public void zeroGradients() {
    store.grads().assign(0);
  }

  public long parameterCount() {
    return store.values().length();
  }

  /** Every trainable value in one flat array (the adapters' tensors are views of it). */
  public INDArray flatParameters() {
    return store.values();
  }

  /** Whether every trainable value is finite (no NaN, no infinity). */
  public boolean finite() {
    INDArray flat = flatParameters();
    return !org.nd4j.linalg.indexing.BooleanIndexing.or(flat, org.nd4j.linalg.indexing.conditions.Conditions.isNan())
        && !org.nd4j.linalg.indexing.BooleanIndexing.or(flat, org.nd4j.linalg.indexing.conditions.Conditions.isInfinite());
  }

  /** Every gradient in one flat array, aligned with {@link #flatParameters()}. */
  public INDArray flatGradients() {
    return store.grads();
  }

  /**
   * The trainable tensors under their PEFT keys, e.g.
   * {@code base_model.model.model.layers.0.self_attn.q_proj.miss_block}, in canonical order.
   */
  public Map<String, INDArray> peftTensors() {
    Map<String, INDArray> out = new LinkedHashMap<>();
    byModulePath().forEach((path, a) -> a.namedParameters()
        .forEach((suffix, t) -> out.put(PEFT_PREFIX + path + "." + suffix, t)));
    return out;
  }

  /**
   * Copies tensors (keyed like {@link #peftTensors()}) into the adapters. Every adapter tensor must
   * be present with its shape; a key that matches no adapter is an error.
   */
  public void loadPeftTensors(Map<String, INDArray> tensors, String source) {
    Map<String, INDArray> own = peftTensors();
    for (String key : tensors.keySet()) {
      if (!own.containsKey(key)) {
        throw new BonestreamException("adapter tensor " + key + " in " + source
            + " matches no " + config.method() + " target of this model");
      }
    }
    for (Map.Entry<String, INDArray> e : own.entrySet()) {
      INDArray t = tensors.get(e.getKey());
      if (t == null) {
        throw new BonestreamException("adapter tensor " + e.getKey() + " missing from " + source);
      }
      if (!Arrays.equals(t.shape(), e.getValue().shape())) {
        throw new BonestreamException("adapter tensor " + e.getKey() + " in " + source + " has shape "
            + Arrays.toString(t.shape()) + ", expected " + Arrays.toString(e.getValue().shape()));
      }
      e.getValue().assign(t.castTo(e.getValue().dataType()));
    }
  }
}
