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
 * The activations of one forward/backward pass on a device, allocated once for a batch shape and
 * reused by every later pass that fits (and by every adapter of the model). Per layer it keeps what
 * the backward pass reads (residual streams, RMSNorm scales, rotated q/k/v, attention
 * probabilities and output, gate and up); the rest is scratch shared by the layers.
 *
 * <p>Shapes: N rows (batch · seq), D hidden, Dq = H·hd, Dkv = Hkv·hd, F intermediate, V vocab,
 * S = batch · H · seq² attention scores, r the adapters' width.
 */
final class Workspace implements AutoCloseable {
  /** Capacities: rows, longest sequence, attention-score elements, adapter width. */
  record Shape(long rows, int seq, long scores, int r) {
    static Shape covering(Shape old, int batch, int seq, int r) {
      long rows = (long) batch * seq;
      long scores = rows * seq; // · heads, applied by the workspace
      return old == null ? new Shape(rows, seq, scores, r) : new Shape(Math.max(old.rows, rows),
          Math.max(old.seq, seq), Math.max(old.scores, scores), Math.max(old.r, r));
    }
  }

  private final Device d;
  private final ModelConfig c;
  private final DType act;
  private final Shape shape;
  private final List<Buf> owned = new ArrayList<>();

  // saved for the backward pass, per layer
  final Buf[] xs;    // residual stream entering layer l (xs[L] = the final one)  (N, D) F32
  final Buf[] xmid;  // residual stream after attention                          (N, D) F32
  final Buf[] inv1;  // input RMSNorm 1/rms                                       (N) F32
  final Buf[] inv2;  // post-attention RMSNorm 1/rms                              (N) F32
  final Buf[] qr;    // rotated queries                                           (B, H, T, hd) act
  final Buf[] kr;    // rotated keys                                              (B, Hkv, T, hd) act
  final Buf[] vr;    // values                                                    (B, Hkv, T, hd) act
  final Buf[] probs; // causal softmax                                            (B, H, T, T) act
  final Buf[] att;   // attention output, o_proj's input                          (N, Dq) act
  final Buf[] gate;  //                                                           (N, F) act
  final Buf[] up;    //                                                           (N, F) act
  final Buf invF;    // final RMSNorm 1/rms                                       (N) F32
  final Buf[] sAtt;  // the method's sums of the attention input (q, k, v)        (N, r) act
  final Buf[] sO;    // the method's sums of o_proj's input                       (N, r) act
  final Buf[] sMlp;  // the method's sums of the MLP input (gate, up)              (N, r) act
  final Buf[] sDown; // the method's sums of down_proj's input                    (N, r) act

  // scratch
  final Buf h;       // a normed input                       (N, D) act
  final Buf invTmp;  // 1/rms of a recomputed norm           (N) F32
  final Buf q;       //                                      (N, Dq) act
  final Buf k;       //                                      (N, Dkv) act
  final Buf v;       //                                      (N, Dkv) act
  final Buf scores;  // scores, then dP                      (B, H, T, T) F32
  final Buf dS;      //                                      (B, H, T, T) act
  final Buf heads;   // attention output, then dO           (B, H, T, hd) act
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
  private Buf[] normedAtt; // training: the attention input RMSNorm(x) of every layer (N, D) act
  private Buf[] normedMlp; // training: the MLP input RMSNorm(xmid) of every layer    (N, D) act

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
    long s = shape.scores() * c.numHeads();
    xs = new Buf[layers + 1];
    xmid = new Buf[layers];
    inv1 = new Buf[layers];
    inv2 = new Buf[layers];
    qr = new Buf[layers];
    kr = new Buf[layers];
    vr = new Buf[layers];
    probs = new Buf[layers];
    att = new Buf[layers];
    gate = new Buf[layers];
    up = new Buf[layers];
    sAtt = new Buf[layers];
    sO = new Buf[layers];
    sMlp = new Buf[layers];
    sDown = new Buf[layers];
    for (int l = 0; l < layers; l++) {
      sAtt[l] = alloc(act, n * shape.r());
      sO[l] = alloc(act, n * shape.r());
      sMlp[l] = alloc(act, n * shape.r());
      sDown[l] = alloc(act, n * shape.r());
      xs[l] = alloc(DType.F32, n * dm);
      xmid[l] = alloc(DType.F32, n * dm);
      inv1[l] = alloc(DType.F32, n);
      inv2[l] = alloc(DType.F32, n);
      qr[l] = alloc(act, n * dq);
      kr[l] = alloc(act, n * dkv);
      vr[l] = alloc(act, n * dkv);
      probs[l] = alloc(act, s);
      att[l] = alloc(act, n * dq);
      gate[l] = alloc(act, n * f);
      up[l] = alloc(act, n * f);
    }
    xs[layers] = alloc(DType.F32, n * dm);
    invF = alloc(DType.F32, n);
    h = alloc(act, n * dm);
    invTmp = alloc(DType.F32, n);
    q = alloc(act, n * dq);
    k = alloc(act, n * dkv);
    v = alloc(act, n * dkv);
    scores = alloc(DType.F32, s);
    dS = alloc(act, s);
    heads = alloc(act, n * dq);
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
    long rows = (long) batch * seq;
    return rows <= shape.rows() && seq <= shape.seq() && rows * seq <= shape.scores() && r <= shape.r();
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

  /**
   * The normed inputs of layer l, kept by the forward pass for a method whose weight gradients Gᵀ x
   * read them (instead of recomputing them in the backward pass), made on first use.
   */
  Buf normedAtt(int l) {
    normed();
    return normedAtt[l];
  }

  Buf normedMlp(int l) {
    normed();
    return normedMlp[l];
  }

  private void normed() {
    if (normedAtt == null) {
      int layers = c.numLayers();
      normedAtt = new Buf[layers];
      normedMlp = new Buf[layers];
      for (int l = 0; l < layers; l++) {
        normedAtt[l] = alloc(act, shape.rows() * c.hiddenSize());
        normedMlp[l] = alloc(act, shape.rows() * c.hiddenSize());
      }
    }
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
