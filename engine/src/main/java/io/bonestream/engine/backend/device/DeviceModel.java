package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import java.util.ArrayList;
import java.util.List;

/**
 * A frozen base model on a device, uploaded once and shared by every adapter trained on it: the
 * GEMM weights (embeddings, projections, head) in the precision's activation type (BF16 for
 * {@code bf16}, F32 for {@code fp32}), norms and biases in F32. It also owns the activation
 * workspace its passes share; a pass holds the model's lock.
 */
public final class DeviceModel implements AutoCloseable {
  /** One decoder layer: two norm weights, seven projection weights (O, I), q/k/v biases or null. */
  public record Layer(Buf inputNorm, Buf postAttentionNorm, Buf[] weights, Buf[] biases) {
    public Buf weight(Projection p) {
      return weights[p.ordinal()];
    }

    public Buf bias(Projection p) {
      return biases[p.ordinal()];
    }
  }

  private final Device device;
  private final ModelConfig config;
  private final Precision precision;
  private final String name;
  private final String fingerprint;
  private final Buf embed;
  private final Buf lmHead;
  private final Buf finalNorm;
  private final List<Layer> layers;
  private final List<Buf> owned = new ArrayList<>();
  private Workspace workspace;
  private final java.util.Map<Long, Buf> tileMatrices = new java.util.HashMap<>();
  private boolean closed;

  private DeviceModel(Device device, ModelConfig config, Precision precision, String name,
      String fingerprint, Loader load) {
    this.device = device;
    this.config = config;
    this.precision = precision;
    this.name = name;
    this.fingerprint = fingerprint;
    DType act = activationType();
    int d = config.hiddenSize();
    long v = config.vocabSize();
    this.embed = load.tensor(this, "model.embed_tokens.weight", act, v, d);
    this.lmHead = config.tieWordEmbeddings() && !load.has("lm_head.weight") ? embed
        : load.tensor(this, "lm_head.weight", act, v, d);
    this.finalNorm = load.tensor(this, "model.norm.weight", DType.F32, d);
    List<Layer> ls = new ArrayList<>();
    for (int l = 0; l < config.numLayers(); l++) {
      Buf[] w = new Buf[Projection.values().length];
      Buf[] b = new Buf[Projection.values().length];
      for (Projection p : Projection.values()) {
        String path = p.modulePath(l);
        w[p.ordinal()] = load.tensor(this, path + ".weight", act,
            AdapterLayout.outFeatures(config, p), AdapterLayout.inFeatures(config, p));
        if (load.has(path + ".bias")) {
          b[p.ordinal()] = load.tensor(this, path + ".bias", DType.F32, AdapterLayout.outFeatures(config, p));
        }
      }
      String prefix = "model.layers." + l + ".";
      ls.add(new Layer(load.tensor(this, prefix + "input_layernorm.weight", DType.F32, d),
          load.tensor(this, prefix + "post_attention_layernorm.weight", DType.F32, d), w, b));
    }
    this.layers = List.copyOf(ls);
  }

  /** Where the weights come from. */
  private interface Loader {
    Buf tensor(DeviceModel m, String name, DType type, long... shape);

    boolean has(String name);
  }

  /** Values converted and uploaded at a time: bounds the host memory an upload takes (16 MiB). */
  static final int UPLOAD_CHUNK = 1 << 22;

  /**
   * Uploads a model folder's weights straight from its memory-mapped files, a chunk at a time: the
   * host never holds a converted copy of a whole tensor, let alone of the model.
   */
  public static DeviceModel upload(Device device, HostModel host, Precision precision) {
    return upload(device, host, precision, UPLOAD_CHUNK);
  }

  /** {@link #upload(Device, HostModel, Precision)} in chunks of {@code chunk} values. */
  static DeviceModel upload(Device device, HostModel host, Precision precision, int chunk) {
    return new DeviceModel(device, host.config(), precision, host.name(), host.fingerprint(), new Loader() {
      @Override
      public Buf tensor(DeviceModel m, String name, DType type, long... shape) {
        if (!java.util.Arrays.equals(host.shape(name), shape)) {
          throw new io.bonestream.core.BonestreamException("tensor " + name + " has shape "
              + java.util.Arrays.toString(host.shape(name)) + ", config.json implies " + java.util.Arrays.toString(shape));
        }
        long n = io.bonestream.core.model.HostTensor.elementCount(shape);
        String stored = host.dtype(name);
        int width = io.bonestream.core.safetensors.SafeTensorsReader.byteSize(stored, null, name);
        java.nio.ByteBuffer raw = host.rawBytes(name);
        Buf b = m.alloc(type, n);
        for (long from = 0; from < n; from += chunk) {
          int len = (int) Math.min(chunk, n - from);
          java.nio.ByteBuffer part = raw.slice((int) (from * width), len * width);
          if (stored.equals(type == DType.BF16 ? "BF16" : type == DType.F32 ? "F32" : "")) {
            device.uploadBytes(part, b.slice(from, len)); // the stored bytes as they are
          } else {
            device.upload(io.bonestream.core.safetensors.SafeTensorsReader.toFloats(part, stored), b.slice(from, len));
          }
        }
        return b;
      }

      @Override
      public boolean has(String name) {
        return host.has(name);
      }
    });
  }

  /** Uploads weights given as float arrays under their Hugging Face names. */
  public static DeviceModel fromTensors(Device device, ModelConfig config, Precision precision, String name,
      String fingerprint, java.util.Map<String, float[]> tensors) {
    return new DeviceModel(device, config, precision, name, fingerprint, new Loader() {
      @Override
      public Buf tensor(DeviceModel m, String key, DType type, long... shape) {
        float[] values = tensors.get(key);
        if (values == null) {
          throw new io.bonestream.core.BonestreamException("model weights lack tensor " + key);
        }
        Buf b = m.alloc(type, values.length);
        device.upload(values, b);
        return b;
      }

      @Override
      public boolean has(String key) {
        return tensors.containsKey(key);
      }
    });
  }

  /**
   * A float32 model whose weights are buffers the caller already holds on the device, under their
   * Hugging Face names (the CPU device's views of an ND4J model's memory): nothing is copied, and
   * closing the model does not free them.
   */
  public static DeviceModel borrow(Device device, ModelConfig config, String name, String fingerprint,
      java.util.Map<String, Buf> tensors) {
    return new DeviceModel(device, config, Precision.FP32, name, fingerprint, new Loader() {
      @Override
      public Buf tensor(DeviceModel m, String key, DType type, long... shape) {
        Buf b = tensors.get(key);
        if (b == null) {
          throw new io.bonestream.core.BonestreamException("model weights lack tensor " + key);
        }
        long n = 1;
        for (long s : shape) {
          n *= s;
        }
        if (b.type() != DType.F32 || type != DType.F32 || b.size() != n) {
          throw new IllegalArgumentException(key + ": " + b + " is not F32[" + n + "]");
        }
        return b;
      }

      @Override
      public boolean has(String key) {
        return tensors.containsKey(key);
      }
    });
  }

  /**
   * A model of the given shape with weights drawn on the device: projections, embeddings and head
   * N(0, std²) (Hugging Face's init with std 0.02), norms 1, no biases.
   */
  public static DeviceModel random(Device device, ModelConfig config, Precision precision, float std,
      long seed) {
    long[] counter = {seed};
    return new DeviceModel(device, config, precision, "random-" + config.hiddenSize() + "x"
        + config.numLayers(), "random-seed-" + seed, new Loader() {
      @Override
      public Buf tensor(DeviceModel m, String name, DType type, long... shape) {
        long n = 1;
        for (long s : shape) {
          n *= s;
        }
        Buf b = m.alloc(type, n);
        if (name.endsWith("norm.weight")) {
          float[] ones = new float[(int) n];
          java.util.Arrays.fill(ones, 1f);
          device.upload(ones, b);
        } else {
          device.randomNormal(b, std, counter[0]++ * 0x5851F42D4C957F2DL);
        }
        return b;
      }

      @Override
      public boolean has(String name) {
        return !name.endsWith(".bias") && !name.equals("lm_head.weight") || !config.tieWordEmbeddings()
            && name.equals("lm_head.weight");
      }
    });
  }

  private Buf alloc(DType type, long n) {
    Buf b = device.alloc(type, n);
    owned.add(b);
    return b;
  }

  public Device device() {
    return device;
  }

  public ModelConfig config() {
    return config;
  }

  public Precision precision() {
    return precision;
  }

  /** BF16 for {@code bf16}, F32 for {@code fp32}. */
  public DType activationType() {
    return precision == Precision.BF16 ? DType.BF16 : DType.F32;
  }

  public String name() {
    return name;
  }

  public String fingerprint() {
    return fingerprint;
  }

  /** (V, D) act. */
  public Buf embed() {
    return embed;
  }

  /** (V, D) act; the embedding itself when tied. */
  public Buf lmHead() {
    return lmHead;
  }

  /** (D) F32. */
  public Buf finalNorm() {
    return finalNorm;
  }

  public Layer layer(int l) {
    return layers.get(l);
  }

  /** Bytes of the weights this model allocated on the device (0 for borrowed weights). */
  public long weightBytes() {
    long n = 0;
    for (Buf b : owned) {
      n += b.size() * b.type().bytes();
    }
    return n;
  }

  /** The activation workspace, grown to hold a batch of {@code batch} sequences of {@code seq}. */
  Workspace workspace(int batch, int seq, int r) {
    if (workspace == null || !workspace.fits(batch, seq, r)) {
      Workspace.Shape old = workspace == null ? null : workspace.shape();
      if (workspace != null) {
        workspace.close();
      }
      workspace = new Workspace(device, config, activationType(), Workspace.Shape.covering(old, batch, seq, r));
    }
    return workspace;
  }

  /**
   * The chunk-sum matrix E (I, r) in act type, E[i, j] = 1 when i mod r = j: S = x E sums the
   * r-wide chunks of x with one GEMM, and x's gradient gets tile(dS) = dS Eᵀ (the stacked identities
   * of {@link io.bonestream.engine.device.DevicePass#tileMatrix}). Made once per (I, r).
   */
  synchronized Buf tileMatrix(int in, int r) {
    return tileMatrices.computeIfAbsent(((long) in << 32) | r, k -> {
      float[] e = new float[in * r];
      for (int i = 0; i < in; i++) {
        e[i * r + i % r] = 1f;
      }
      Buf b = device.alloc(activationType(), e.length);
      device.upload(e, b);
      return b;
    });
  }

  /** Frees the workspace (kept between passes otherwise). */
  public synchronized void releaseWorkspace() {
    if (workspace != null) {
      workspace.close();
      workspace = null;
    }
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    releaseWorkspace();
    tileMatrices.values().forEach(device::free);
    tileMatrices.clear();
    for (Buf b : owned) {
      device.free(b);
    }
    owned.clear();
  }
}
