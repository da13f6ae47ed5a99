package io.bonestream.core.adapters;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.core.util.Rng;
import java.util.ArrayList;
import java.util.List;

/**
 * Where every trainable tensor of an adapter set lives in the flat parameter array, computed from
 * the model's config alone (no weights, no ND4J): layers ascending, target projections in
 * {@link Projection} order, a LoRA adapter's A before its B. {@link AdapterSet}'s
 * {@code ParameterStore} hands out slices in this very order, so the flat arrays of every backend
 * and of the training state agree.
 */
public final class AdapterLayout {
  /** PEFT's key prefix for a LlamaForCausalLM wrapped in a PeftModel. */
  public static final String PEFT_PREFIX = "base_model.model.";

  /** One adapted projection: its tensors' offsets in the flat array. */
  public record Site(int layer, Projection projection, int in, int out, List<Tensor> tensors) {
    public String modulePath() {
      return projection.modulePath(layer);
    }
  }

  /** One trainable tensor: PEFT key suffix (e.g. {@code miss_block}), shape, flat offset. */
  public record Tensor(String suffix, long[] shape, long offset, long length) {}

  private final AdapterConfig config;
  private final List<Site> sites;
  private final Site[][] byLayer;
  private final long size;

  private AdapterLayout(AdapterConfig config, List<Site> sites, int layers, long size) {
    this.config = config;
    this.sites = List.copyOf(sites);
    this.size = size;
    this.byLayer = new Site[layers][Projection.values().length];
    for (Site s : sites) {
      byLayer[s.layer()][s.projection().ordinal()] = s;
    }
  }

  /**
   * Layouts made so far: immutable, and one is shared by every trainer of its shape and adapter
   * config (a JVM holds a handful; each trainer its own copy would cost KBs beside small adapters).
   */
  private static final java.util.Map<List<Object>, AdapterLayout> MADE = new java.util.concurrent.ConcurrentHashMap<>();

  /** The layout of {@code config} on a model of shape {@code c}; refuses shapes the method cannot take. */
  public static AdapterLayout of(ModelConfig c, AdapterConfig config) {
    // the whole adapter config, LoRA's alpha too: a layout carries its config (config())
    List<Object> key = List.of(c, config);
    AdapterLayout made = MADE.get(key);
    if (made == null) {
      made = make(c, config); // throws for a shape the method cannot take: nothing is kept
      MADE.putIfAbsent(key, made);
    }
    return made;
  }

  private static AdapterLayout make(ModelConfig c, AdapterConfig config) {
    int r = config.r();
    List<Site> sites = new ArrayList<>();
    long offset = 0;
    for (int l = 0; l < c.numLayers(); l++) {
      for (Projection p : config.targets()) {
        int in = inFeatures(c, p);
        int out = outFeatures(c, p);
        if (config.method() == AdapterMethod.BAT && (in % r != 0 || out % r != 0)) {
          throw new BonestreamException("bat needs r to divide both dimensions of every target: r="
              + r + " does not divide " + p.modulePath(l) + " (in " + in + ", out " + out + ")");
        }
        if (config.method() == AdapterMethod.MINI && out % config.miniR() != 0) {
          throw new BonestreamException("mini needs mini_r to divide every target's out_features: mini_r="
              + config.miniR() + " does not divide " + p.modulePath(l) + " (out " + out + ")");
        }
        if (config.method() == AdapterMethod.LORA && r > Math.min(in, out)) {
          throw new BonestreamException("lora rank r=" + r + " exceeds the smaller dimension of "
              + p.modulePath(l) + " (in " + in + ", out " + out + ")");
        }
        List<Tensor> t = new ArrayList<>();
        switch (config.method()) {
          case BAT -> t.add(new Tensor("miss_block", new long[] {out / r, r, r}, offset, (long) r * out));
          case BONE -> t.add(new Tensor("miss_block", new long[] {r, out}, offset, (long) r * out));
          case MINI -> t.add(new Tensor("miss_block", new long[] {r, config.miniR()}, offset,
              (long) r * config.miniR()));
          case LORA -> {
            t.add(new Tensor("lora_A.weight", new long[] {r, in}, offset, (long) r * in));
            t.add(new Tensor("lora_B.weight", new long[] {out, r}, offset + (long) r * in, (long) r * out));
          }
        }
        for (Tensor x : t) {
          offset += x.length();
        }
        sites.add(new Site(l, p, in, out, t));
      }
    }
    return new AdapterLayout(config, sites, c.numLayers(), offset);
  }

  /** in_features of a projection. */
  public static int inFeatures(ModelConfig c, Projection p) {
    return switch (p) {
      case Q_PROJ, K_PROJ, V_PROJ, GATE_PROJ, UP_PROJ -> c.hiddenSize();
      case O_PROJ -> c.numHeads() * c.headDim();
      case DOWN_PROJ -> c.intermediateSize();
    };
  }

  /** out_features of a projection. */
  public static int outFeatures(ModelConfig c, Projection p) {
    return switch (p) {
      case Q_PROJ -> c.numHeads() * c.headDim();
      case K_PROJ, V_PROJ -> c.numKvHeads() * c.headDim();
      case O_PROJ, DOWN_PROJ -> c.hiddenSize();
      case GATE_PROJ, UP_PROJ -> c.intermediateSize();
    };
  }

  public AdapterConfig config() {
    return config;
  }

  public List<Site> sites() {
    return sites;
  }

  /** The site of one projection, or null when it is not a target. */
  public Site site(int layer, Projection p) {
    return byLayer[layer][p.ordinal()];
  }

  /** Total trainable values. */
  public long size() {
    return size;
  }

  /**
   * The initial values: zero, except LoRA's A, drawn from {@code rng} as {@link AdapterSet#create}
   * draws them (Kaiming-uniform, a = √5: U(±1/√I)), adapter by adapter in layout order.
   */
  public float[] initialValues(Rng rng) {
    float[] v = new float[Math.toIntExact(size)];
    if (config.method() != AdapterMethod.LORA) {
      return v;
    }
    for (Site s : sites) {
      Tensor a = s.tensors().get(0);
      double bound = 1.0 / Math.sqrt(s.in());
      for (long i = 0; i < a.length(); i++) {
        v[(int) (a.offset() + i)] = (float) ((2 * rng.nextDouble() - 1) * bound);
      }
    }
    return v;
  }
}
