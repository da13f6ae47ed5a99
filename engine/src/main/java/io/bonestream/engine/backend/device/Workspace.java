package io.bonestream.engine.backend.device;

import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.DevicePass;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The activations of one forward/backward pass on a device, allocated for a batch shape and reused
 * by every later pass that fits (and by every adapter of the model). Per layer it keeps the layer's
 * input (the residual stream {@code xs[l]}) and what the layer's backward pass reads
 * ({@link LayerActivations}: one set per layer, made when a forward pass first keeps them, or one
 * set that a recomputing backward pass refills layer by layer); the rest is scratch shared by the
 * layers. Nothing is O(T²): attention keeps a log-sum-exp per query row.
 *
 * <p>Shapes: N rows (batch · seq), D hidden, H heads, Dq = H·hd, Dkv = Hkv·hd, F intermediate,
 * V vocab, r the adapters' width.
 */
final class Workspace implements AutoCloseable {
  /** Capacities: rows, longest sequence, adapter width. */
  record Shape(long rows, int seq, int r) {
    static Shape covering(Shape old, int batch, int seq, int r) {
      long rows = (long) batch * seq;
      return old == null ? new Shape(rows, seq, r) : new Shape(Math.max(old.rows, rows), Math.max(old.seq, seq),
          Math.max(old.r, r));
    }
  }

  private final Device d;
  private final ModelConfig c;
  private final DType act;
  private final Shape shape;
  private final List<Buf> owned = new ArrayList<>();

  // saved for the backward pass
  final Buf[] xs;    // residual stream entering layer l (xs[L] = the final one)  (N, D) F32
  final Buf invF;    // final RMSNorm 1/rms                                       (N) F32
  private LayerActivations[] kept;  // per layer, made by the first forward pass that keeps them
  private LayerActivations current; // one layer's, for passes that keep none or recompute

  // scratch
  final Buf h;       // a normed input                       (N, D) act
  final Buf invTmp;  // 1/rms of a recomputed norm           (N) F32
  final Buf q;       //                                      (N, Dq) act
  final Buf k;       //                                      (N, Dkv) act
  final Buf v;       //                                      (N, Dkv) act
  final Buf heads;   // attention output, then out again for the backward pass (B, H, T, hd) act
  final Buf dHeads;  // dL/d(attention output)               (B, H, T, hd) act
  final Buf dQh;     //                                      (B, H, T, hd) F32
  final Buf dKh;     //                                      (B, Hkv, T, hd) F32
  final Buf dVh;     //                                      (B, Hkv, T, hd) F32
  final Buf dq;      //                                      (N, Dq) act
  final Buf dk;      //                                      (N, Dkv) act
  final Buf dv;      //                                      (N, Dkv) act
  final Buf a;       // silu(gate) · up, down_proj's input  (N, F) act
  final Buf dIn;     // input gradient of o_proj / down_proj (N, max(F, Dq)) F32
  final Buf dg;      //                                      (N, F) act
  final Buf du;      //                                      (N, F) act
  final Buf dh;      // gradient of a normed input           (N, D) F32
  final Buf dx;      // gradient of the residual stream      (N, D) F32
  final Buf dxAct;   // the same in act type (dx itself when act is F32)
  final Buf[] rowScratch; // the method's scratch, two      (N, r) act
  final Buf dTile;   // the input-gradient term of the projections sharing an input (N, r) F32
  final Buf hf;      // final normed states                  (N, D) act
  final Buf dhf;     //                                      (N, D) F32
  final Buf logits;  // one chunk of rows                    (R, V) F32
  final Buf dLogits; //                                      (R, V) act
  final Buf rowLoss; //                                      (N) F32
  final Buf ids;     //                                      (N) I32
  final Buf targets; //                                      (N) I32
  final Buf weights; //                                      (N) F32
  final Buf cos;     //                                      (T, hd) F32
  final Buf sin;     //                                      (T, hd) F32
  final int ceRows;  // R: rows of logits materialised at once
  int tableSeq = -1; // the sequence length cos and sin hold
  // the method's own scratch (DevicePass#scratch), by its kind
  private final Map<Class<?>, Object> methodScratch = new HashMap<>();

  Workspace(Device d, ModelConfig c, DType act, Shape shape) {
    this.d = d;
    this.c = c;
    this.act = act;
    this.shape = shape;
    int layers = c.numLayers();
    long n = shape.rows();
    long dm = c.hiddenSize();
    long dq = (long) c.numHeads() * c.headDim();
    long dkv = (long) c.numKvHeads() * c.headDim();
    long f = c.intermediateSize();
    xs = new Buf[layers + 1];
    for (int l = 0; l <= layers; l++) {
      xs[l] = alloc(DType.F32, n * dm);
    }
    invF = alloc(DType.F32, n);
    h = alloc(act, n * dm);
    invTmp = alloc(DType.F32, n);
    q = alloc(act, n * dq);
    k = alloc(act, n * dkv);
    v = alloc(act, n * dkv);
    heads = alloc(act, n * dq);
    dHeads = alloc(act, n * dq);
    dQh = alloc(DType.F32, n * dq);
    dKh = alloc(DType.F32, n * dkv);
    dVh = alloc(DType.F32, n * dkv);
    this.dq = alloc(act, n * dq);
    this.dk = alloc(act, n * dkv);
    this.dv = alloc(act, n * dkv);
    a = alloc(act, n * f);
    dIn = alloc(DType.F32, n * Math.max(f, dq));
    dg = alloc(act, n * f);
    du = alloc(act, n * f);
    dh = alloc(DType.F32, n * dm);
    dx = alloc(DType.F32, n * dm);
    dxAct = act == DType.F32 ? dx : alloc(act, n * dm);
    rowScratch = new Buf[2];
    rowScratch[0] = alloc(act, n * shape.r());
    dTile = alloc(DType.F32, n * shape.r());
    rowScratch[1] = alloc(act, n * shape.r());
    hf = alloc(act, n * dm);
    dhf = alloc(DType.F32, n * dm);
    ceRows = (int) Math.max(1, Math.min(n, d.lossChunkElements() / c.vocabSize()));
    logits = alloc(DType.F32, (long) ceRows * c.vocabSize());
    dLogits = alloc(act, (long) ceRows * c.vocabSize());
    rowLoss = alloc(DType.F32, n);
    ids = alloc(DType.I32, n);
    targets = alloc(DType.I32, n);
    weights = alloc(DType.F32, n);
    cos = alloc(DType.F32, (long) shape.seq() * c.headDim());
    sin = alloc(DType.F32, (long) shape.seq() * c.headDim());
  }

  private Buf alloc(DType type, long size) {
    Buf b = d.alloc(type, Math.max(1, size));
    owned.add(b);
    return b;
  }

  Shape shape() {
    return shape;
  }

  boolean fits(int batch, int seq, int r) {
    return (long) batch * seq <= shape.rows() && seq <= shape.seq() && r <= shape.r();
  }

  /**
   * Layer l's activations: its own set when {@code kept} (a training forward pass keeps every
   * layer's for the backward pass, or a backward pass reads them), else a set shared by the layers
   * (a pass that keeps nothing, or a recomputing backward pass). The kept sets and the shared one
   * are made on first use; a pass that keeps nothing uses the kept sets where they exist.
   */
  LayerActivations layer(int l, boolean kept) {
    if (kept) {
      if (this.kept == null) {
        this.kept = new LayerActivations[c.numLayers()];
        for (int i = 0; i < this.kept.length; i++) {
          this.kept[i] = newLayer();
        }
      }
      return this.kept[l];
    }
    if (this.kept != null) {
      return this.kept[l];
    }
    if (current == null) {
      current = newLayer();
    }
    return current;
  }

  private LayerActivations newLayer() {
    return new LayerActivations(this::alloc, c, act, shape.rows(), shape.rows() * c.numHeads(), shape.r());
  }

  /** The method's scratch of this kind, made by {@code make} on first use; its buffers are freed with the workspace. */
  <T> T scratch(Class<T> kind, Function<DevicePass.Memory, T> make) {
    Object s = methodScratch.get(kind);
    if (s == null) {
      s = make.apply(this::alloc);
      methodScratch.put(kind, s);
    }
    return kind.cast(s);
  }

  @Override
  public void close() {
    for (Buf b : owned) {
      d.free(b);
    }
    owned.clear();
    methodScratch.clear();
  }
}
