package io.bonestream.engine.backend.device;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.device.TileTerm;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.RopeFrequencies;
import io.bonestream.engine.model.TokenBatch;

/**
 * The LLaMA decoder on a {@link Device}: the same layer list as the CPU engine's
 * {@code Transformer}, one forward/backward pair per layer kind, adapters on any of the seven
 * projections (each method's math behind {@link MethodOnDevice}, reached through an
 * {@link AdapterPass}), and the loss over the vocabulary in chunks of rows.
 *
 * <p>Shapes: B batch, T positions, N = B·T rows, D hidden, H heads, Hkv key/value heads, G = H/Hkv,
 * hd head dim, Dq = H·hd, Dkv = Hkv·hd, F intermediate, V vocabulary, I/O a projection's in/out.
 * Attention is one fused device operation each way ({@link Device#attentionForward},
 * {@link Device#attentionBackward}): q (B, H, T, hd), whose G heads of a key/value head are
 * adjacent, k and v (B, Hkv, T, hd); it keeps a log-sum-exp per query row, never the (T, T)
 * probabilities, so every activation is O(N).
 *
 * <p>With activation recomputation the forward pass keeps only each layer's input, and the backward
 * pass runs each layer's forward pass again (the same operations on the same inputs: the same
 * values) just before that layer's backward pass; one layer's activations are live at a time.
 *
 * <p>Residual streams, norms, softmax, loss and gradients of the residual stream are F32; GEMM
 * operands are the model's act type. Only adapters are trained: the backward pass computes input
 * gradients through frozen weights, never a weight gradient of the base.
 */
public final class DeviceTransformer {
  private final DeviceModel m;
  private final Device d;
  private final ModelConfig c;
  private final DType act;
  private final float[] invFreq;

  /** The projections in the order the forward pass multiplies by them, within a layer. */
  static final Projection[] FORWARD_ORDER = {Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ,
      Projection.O_PROJ, Projection.GATE_PROJ, Projection.UP_PROJ, Projection.DOWN_PROJ};
  /** The same for the backward pass. */
  static final Projection[] BACKWARD_ORDER = {Projection.DOWN_PROJ, Projection.GATE_PROJ,
      Projection.UP_PROJ, Projection.O_PROJ, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ};
  /** A layer's forward pass recomputed for its backward pass: down_proj's output is not read again. */
  static final Projection[] RECOMPUTE_ORDER = {Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ,
      Projection.O_PROJ, Projection.GATE_PROJ, Projection.UP_PROJ};

  public DeviceTransformer(DeviceModel model) {
    this.m = model;
    this.d = model.device();
    this.c = model.config();
    this.act = model.activationType();
    this.invFreq = RopeFrequencies.inverse(c);
  }

  public DeviceModel model() {
    return m;
  }

  /**
   * Forward and backward over a batch: adds dLoss/dθ to the adapters' gradients, loss = weighted
   * sum of token losses / {@code lossDenominator}. Returns the sum. With {@code recompute}, the
   * forward pass keeps only each layer's input and the backward pass recomputes the rest, layer by
   * layer: the same values, a layer's activations instead of every layer's.
   */
  LossSum forwardBackward(DeviceAdapters ad, TokenBatch batch, double lossDenominator, boolean recompute) {
    synchronized (m) {
      Workspace w = prepare(batch, ad);
      forward(ad, w, batch.batch(), batch.seq(), true, !recompute);
      loss(w, batch, (float) (1.0 / lossDenominator), true);
      backward(ad, w, batch.batch(), batch.seq(), recompute);
      return new LossSum(lossSum(w, batch), batch.targetCount(), batch.targetWeight()); // read last: no stall

    }
  }

  /** The loss sum of a batch, no gradients; {@code ad} may be null (the base alone). */
  LossSum loss(DeviceAdapters ad, TokenBatch batch) {
    synchronized (m) {
      Workspace w = prepare(batch, ad);
      forward(ad, w, batch.batch(), batch.seq(), false, false);
      loss(w, batch, 0f, false);
      return new LossSum(lossSum(w, batch), batch.targetCount(), batch.targetWeight());
    }
  }

  /** Logits (T, V) of every position of one sequence; {@code ad} may be null. */
  float[] logits(DeviceAdapters ad, int[] ids) {
    synchronized (m) {
      TokenBatch batch = TokenBatch.ofIds(ids);
      Workspace w = prepare(batch, ad);
      forward(ad, w, 1, ids.length, false, false);
      float[] out = new float[ids.length * c.vocabSize()];
      int v = c.vocabSize();
      int dm = c.hiddenSize();
      for (int r0 = 0; r0 < ids.length; r0 += w.ceRows) {
        int rows = Math.min(w.ceRows, ids.length - r0);
        d.gemm(false, true, rows, v, dm, 1f, w.hf.from((long) r0 * dm), dm, m.lmHead(), dm, 0f, w.logits, v);
        float[] part = d.download(w.logits.slice(0, (long) rows * v));
        System.arraycopy(part, 0, out, r0 * v, rows * v);
      }
      return out;
    }
  }

  private Workspace prepare(TokenBatch batch, DeviceAdapters ad) {
    int t = batch.seq();
    if (t > c.maxPositionEmbeddings()) {
      throw new BonestreamException("sequence of " + t + " tokens exceeds the model's "
          + "max_position_embeddings " + c.maxPositionEmbeddings());
    }
    if (c.slidingWindow() > 0 && t > c.slidingWindow()) {
      throw new BonestreamException("sequence of " + t + " tokens exceeds the model's "
          + "sliding_window " + c.slidingWindow() + " (sliding-window attention is not implemented)");
    }
    int r = ad == null ? 1 : ad.onDevice.scratchWidth(ad.config); // the width of the adapters' scratch
    Workspace w = m.workspace(batch.batch(), t, r);
    int n = batch.rows();
    d.upload(batch.ids(), w.ids.slice(0, n));
    d.upload(batch.targets(), w.targets.slice(0, n));
    d.upload(batch.weights(), w.weights.slice(0, n));
    if (w.tableSeq != t) {
      float[] cos = new float[t * c.headDim()];
      float[] sin = new float[t * c.headDim()];
      RopeFrequencies.tables(invFreq, 0, t, cos, sin);
      d.upload(cos, w.cos.slice(0, cos.length));
      d.upload(sin, w.sin.slice(0, sin.length));
      w.tableSeq = t;
    }
    return w;
  }

  // ---------------------------------------------------------------- forward

  /**
   * The forward pass. With {@code training}, the normed inputs are kept where the method asks (see
   * {@link #keepsNormed}); with {@code keep}, every layer's activations for the backward pass
   * (without, only each layer's input: a recomputing backward pass makes the rest again).
   */
  private void forward(DeviceAdapters ad, Workspace w, int b, int t, boolean training, boolean keep) {
    AdapterPass pass = ad == null ? null : AdapterPass.forward(m, ad, w);
    boolean normed = training && keepsNormed(pass);
    int n = b * t;
    int dm = c.hiddenSize();
    d.embed(w.ids, m.embed(), w.xs[0], n, dm);
    for (int l = 0; l < c.numLayers(); l++) {
      layerForward(pass, w, w.layer(l, keep), l, b, t, normed, true);
    }
    d.rmsnormForward(w.xs[c.numLayers()], m.finalNorm(), (float) c.rmsNormEps(), w.hf, w.invF, n, dm);
  }

  /**
   * Layer l from its input xs[l] into {@code a}; with {@code normed}, the normed inputs kept in
   * {@code a}; with {@code output}, the layer's output xs[l + 1] (a recomputation for the backward
   * pass needs everything but that: down_proj's input sums are kept, its product skipped).
   */
  private void layerForward(AdapterPass pass, Workspace w, LayerActivations a, int l, int b, int t, boolean normed,
      boolean output) {
    int n = b * t;
    int dm = c.hiddenSize();
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int hd = c.headDim();
    int f = c.intermediateSize();
    float eps = (float) c.rmsNormEps();
    DeviceModel.Layer lw = m.layer(l);
    // attention block: x + o_proj(attention(rope(q), rope(k), v)) on h = RMSNorm(x)
    Buf hAtt = normed ? a.normedAtt() : w.h;
    d.rmsnormForward(w.xs[l], lw.inputNorm(), eps, hAtt, a.inv1, n, dm);
    inputSums(pass, hAtt, dm, a.sAtt, n, l, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ);
    project(pass, l, Projection.Q_PROJ, hAtt, a.sAtt, w.q, 0f, n);    // (N, Dq)
    project(pass, l, Projection.K_PROJ, hAtt, a.sAtt, w.k, 0f, n);    // (N, Dkv)
    project(pass, l, Projection.V_PROJ, hAtt, a.sAtt, w.v, 0f, n);    // (N, Dkv)
    d.toHeads(w.q, null, 0, w.cos, w.sin, a.qr, b, t, h, hd, true);   // (B, H, T, hd)
    d.toHeads(w.k, null, 0, w.cos, w.sin, a.kr, b, t, hkv, hd, true); // (B, Hkv, T, hd)
    d.toHeads(w.v, null, 0, w.cos, w.sin, a.vr, b, t, hkv, hd, false);
    // out (B, H, T, hd) = causal softmax(q kᵀ / sqrt(hd)) v, and its log-sum-exp per row; back to rows (N, Dq)
    d.attentionForward(a.qr, a.kr, a.vr, w.heads, a.lse, b, hkv, c.groupSize(), t, hd, scale(hd));
    d.fromHeads(w.heads, w.cos, w.sin, a.att, b, t, h, hd, false);
    d.copy(w.xs[l].slice(0, (long) n * dm), a.xmid.slice(0, (long) n * dm));
    inputSums(pass, a.att, h * hd, a.sO, n, l, Projection.O_PROJ);
    project(pass, l, Projection.O_PROJ, a.att, a.sO, a.xmid, 1f, n); // xmid = x + o_proj(att)
    // MLP block: x + down_proj(silu(gate_proj(h)) · up_proj(h)) on h = RMSNorm(x)
    Buf hMlp = normed ? a.normedMlp() : w.h;
    d.rmsnormForward(a.xmid, lw.postAttentionNorm(), eps, hMlp, a.inv2, n, dm);
    inputSums(pass, hMlp, dm, a.sMlp, n, l, Projection.GATE_PROJ, Projection.UP_PROJ);
    project(pass, l, Projection.GATE_PROJ, hMlp, a.sMlp, a.gate, 0f, n); // (N, F)
    project(pass, l, Projection.UP_PROJ, hMlp, a.sMlp, a.up, 0f, n);     // (N, F)
    d.swiglu(a.gate, a.up, w.a, (long) n * f);
    inputSums(pass, w.a, f, a.sDown, n, l, Projection.DOWN_PROJ);
    if (output) {
      d.copy(a.xmid.slice(0, (long) n * dm), w.xs[l + 1].slice(0, (long) n * dm));
      project(pass, l, Projection.DOWN_PROJ, w.a, a.sDown, w.xs[l + 1], 1f, n);
    }
  }

  /** Attention's score scale, 1 / sqrt(hd). */
  private static float scale(int hd) {
    return (float) (1.0 / Math.sqrt(hd));
  }

  /** What the adapter method keeps of an input shared by {@code group} (into {@code sums}). */
  private void inputSums(AdapterPass pass, Buf x, int in, Buf sums, int n, int l, Projection... group) {
    if (pass != null) {
      pass.method().inputSums(pass, x, in, sums, n, l, group);
    }
  }

  /**
   * y (N, O) = x (N, I) · (W + ΔW)ᵀ (+ bias) + beta · y, with the adapter of (l, p) if any;
   * {@code sums} holds what the method kept of x ({@link #inputSums}).
   */
  private void project(AdapterPass pass, int l, Projection p, Buf x, Buf sums, Buf y, float beta, int n) {
    int in = AdapterLayout.inFeatures(c, p);
    int out = AdapterLayout.outFeatures(c, p);
    AdapterLayout.Site s = pass == null ? null : pass.site(l, p);
    Buf weight = m.layer(l).weight(p);
    boolean merged = s != null && pass.method().mergesWeights();
    if (merged) {
      weight = pass.merges().take(l, p);
    }
    d.gemm(false, true, n, out, in, 1f, x, in, weight, in, beta, y, out);
    if (merged) {
      pass.merges().release();
    }
    if (s != null) {
      pass.method().forward(pass, s, in, out, x, sums, y, n);
    }
    Buf bias = m.layer(l).bias(p);
    if (bias != null) {
      d.addBias(y, bias, n, out);
    }
  }

  // ---------------------------------------------------------------- loss

  /**
   * Head and cross-entropy over chunks of rows: logits (R, V) = hf · lm_headᵀ; with gradients,
   * dLogits (R, V) and dhf = dLogits · lm_head. The per-row losses stay on the device.
   */
  private void loss(Workspace w, TokenBatch batch, float gradScale, boolean grad) {
    int n = batch.rows();
    int v = c.vocabSize();
    int dm = c.hiddenSize();
    for (int r0 = 0; r0 < n; r0 += w.ceRows) {
      int rows = Math.min(w.ceRows, n - r0);
      d.gemm(false, true, rows, v, dm, 1f, w.hf.from((long) r0 * dm), dm, m.lmHead(), dm, 0f, w.logits, v);
      d.crossEntropy(w.logits, w.targets.from(r0), w.weights.from(r0), gradScale, w.rowLoss.from(r0),
          grad ? w.dLogits : null, rows, v);
      if (grad) {
        d.gemm(false, false, rows, dm, v, 1f, w.dLogits, v, m.lmHead(), dm, 0f, w.dhf.from((long) r0 * dm), dm);
      }
    }
  }

  /** The weighted loss sum (float64) of the rows {@link #loss} computed. */
  private double lossSum(Workspace w, TokenBatch batch) {
    int n = batch.rows();
    float[] rowLoss = d.download(w.rowLoss.slice(0, n));
    double sum = 0;
    for (int i = 0; i < n; i++) {
      if (batch.targets()[i] >= 0) {
        sum += rowLoss[i];
      }
    }
    return sum;
  }

  // ---------------------------------------------------------------- backward

  /**
   * The backward pass, layer by layer from the last; with {@code recompute}, each layer's forward
   * pass runs again first (on one shared set of activations, its own adapter passes).
   */
  private void backward(DeviceAdapters ad, Workspace w, int b, int t, boolean recompute) {
    int n = b * t;
    int dm = c.hiddenSize();
    AdapterPass pass = ad == null || recompute ? null : AdapterPass.backward(m, ad, w);
    d.rmsnormBackward(w.xs[c.numLayers()], m.finalNorm(), w.invF, w.dhf, null, 0, w.dx, actCopy(w), n, dm, false);
    for (int l = c.numLayers() - 1; l >= 0; l--) {
      LayerActivations a = w.layer(l, !recompute);
      if (recompute) {
        AdapterPass again = ad == null ? null : AdapterPass.recomputing(m, ad, w, l);
        layerForward(again, w, a, l, b, t, keepsNormed(again), false);
        pass = ad == null ? null : AdapterPass.backwardOf(m, ad, w, l);
      }
      layerBackward(pass, w, a, l, b, t, ad == null ? 0 : ad.r);
    }
    if (pass != null) {
      pass.method().finishBackward(pass);
    }
  }

  /** Layer l's backward pass: dx (the gradient of its output) becomes the gradient of its input. */
  private void layerBackward(AdapterPass pass, Workspace w, LayerActivations a, int l, int b, int t, int r) {
    int n = b * t;
    int dm = c.hiddenSize();
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int hd = c.headDim();
    int f = c.intermediateSize();
    int dq = h * hd;
    float eps = (float) c.rmsNormEps();
    DeviceModel.Layer lw = m.layer(l);
    // MLP block; dx is dL/d(xmid + down_proj(a)). down_proj's input a is recomputed where the
    // method needs it: along the SwiGLU backward for a method that merges weights (its weight
    // gradient Gᵀ a waits until then), before it for the others.
    boolean laterGrad = pass != null && pass.method().mergesWeights() && pass.site(l, Projection.DOWN_PROJ) != null;
    if (!laterGrad && needsInput(pass, l, Projection.DOWN_PROJ)) {
      d.swiglu(a.gate, a.up, w.a, (long) n * f);
    }
    Buf dA = w.dIn.slice(0, (long) n * f);
    TileTerm tile = new TileTerm();
    projectBackward(pass, l, Projection.DOWN_PROJ, w.dxAct, laterGrad ? null : w.a, a.sDown, dA, 0f, n, tile);
    d.swigluBackward(a.gate, a.up, dA, tileBuf(tile, w), r, w.dg, w.du, laterGrad ? w.a : null, n, f);
    if (laterGrad) {
      pass.method().weightGradient(pass, pass.site(l, Projection.DOWN_PROJ),
          m.layer(l).weight(Projection.DOWN_PROJ), w.dxAct, w.a, f, dm, n);
    }
    Buf hMlp = w.h;
    if (keepsNormed(pass)) {
      hMlp = a.normedMlp();
    } else if (needsInput(pass, l, Projection.GATE_PROJ, Projection.UP_PROJ)) {
      d.rmsnormForward(a.xmid, lw.postAttentionNorm(), eps, w.h, w.invTmp, n, dm);
    }
    tile = new TileTerm();
    projectBackward(pass, l, Projection.GATE_PROJ, w.dg, hMlp, a.sMlp, w.dh, 0f, n, tile);
    projectBackward(pass, l, Projection.UP_PROJ, w.du, hMlp, a.sMlp, w.dh, 1f, n, tile);
    d.rmsnormBackward(a.xmid, lw.postAttentionNorm(), a.inv2, w.dh, tileBuf(tile, w), r, w.dx, actCopy(w), n,
        dm, true);
    // attention block; dx is dL/d(x + o_proj(att))
    Buf dAtt = w.dIn.slice(0, (long) n * dq);
    tile = new TileTerm();
    projectBackward(pass, l, Projection.O_PROJ, w.dxAct, a.att, a.sO, dAtt, 0f, n, tile);
    d.toHeads(dAtt, tileBuf(tile, w), r, w.cos, w.sin, w.dHeads, b, t, h, hd, false); // dO (B, H, T, hd)
    d.toHeads(a.att, null, 0, w.cos, w.sin, w.heads, b, t, h, hd, false);             // O, for D = rowsum(dO ∘ O)
    // dq (B, H, T, hd), dk, dv (B, Hkv, T, hd), the probabilities recomputed from q, k and lse
    d.attentionBackward(a.qr, a.kr, a.vr, w.heads, w.dHeads, a.lse, w.dQh, w.dKh, w.dVh, b, hkv, c.groupSize(), t,
        hd, scale(hd));
    d.fromHeads(w.dQh, w.cos, w.sin, w.dq, b, t, h, hd, true);       // (N, Dq), RoPE undone
    d.fromHeads(w.dKh, w.cos, w.sin, w.dk, b, t, hkv, hd, true);     // (N, Dkv)
    d.fromHeads(w.dVh, w.cos, w.sin, w.dv, b, t, hkv, hd, false);    // (N, Dkv)
    Buf hAtt = w.h;
    if (keepsNormed(pass)) {
      hAtt = a.normedAtt();
    } else if (needsInput(pass, l, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ)) {
      d.rmsnormForward(w.xs[l], lw.inputNorm(), eps, w.h, w.invTmp, n, dm);
    }
    tile = new TileTerm();
    projectBackward(pass, l, Projection.Q_PROJ, w.dq, hAtt, a.sAtt, w.dh, 0f, n, tile);
    projectBackward(pass, l, Projection.K_PROJ, w.dk, hAtt, a.sAtt, w.dh, 1f, n, tile);
    projectBackward(pass, l, Projection.V_PROJ, w.dv, hAtt, a.sAtt, w.dh, 1f, n, tile);
    d.rmsnormBackward(w.xs[l], lw.inputNorm(), a.inv1, w.dh, tileBuf(tile, w), r, w.dx, actCopy(w), n, dm, true);
  }

  /**
   * Whether a training forward pass keeps every layer's normed inputs (2 · layers · N · D act
   * values) for the backward pass: for a method whose every weight gradient Gᵀ x reads them (and
   * whose step runs short of time, not of memory); the others recompute them where they need them.
   */
  private static boolean keepsNormed(AdapterPass pass) {
    return pass != null && pass.method().keepsNormedInputs();
  }

  /** Whether the backward pass needs the group's input itself (a method may keep what it needs instead). */
  private static boolean needsInput(AdapterPass pass, int l, Projection... group) {
    if (pass == null || !pass.method().needsInputInBackward()) {
      return false;
    }
    for (Projection p : group) {
      if (pass.site(l, p) != null) {
        return true;
      }
    }
    return false;
  }

  /** The group's input-gradient term for the kernel that reads the input gradient next, or null. */
  private static Buf tileBuf(TileTerm tile, Workspace w) {
    return tile.used() ? w.dTile : null;
  }

  private Buf actCopy(Workspace w) {
    return w.dxAct == w.dx ? null : w.dxAct;
  }

  /**
   * The backward of {@link #project}: dIn (N, I) F32 = G (W + ΔW) + beta · dIn, and the adapter's
   * gradients added to its accumulators (the method's {@link MethodOnDevice#backward}); G (N, O) act;
   * x (N, I) act the forward input (given null, a method that merges weights leaves its weight
   * gradient to {@link MethodOnDevice#weightGradient}), sums what the method kept of it, and
   * {@code tile} the group's input-gradient term.
   */
  private void projectBackward(AdapterPass pass, int l, Projection p, Buf grad, Buf x, Buf sums, Buf dIn,
      float beta, int n, TileTerm tile) {
    int in = AdapterLayout.inFeatures(c, p);
    int out = AdapterLayout.outFeatures(c, p);
    AdapterLayout.Site s = pass == null ? null : pass.site(l, p);
    Buf weight = m.layer(l).weight(p);
    if (s == null) {
      d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
      return;
    }
    pass.method().backward(pass, l, p, s, weight, in, out, grad, x, sums, dIn, beta, n, tile);
  }
}
