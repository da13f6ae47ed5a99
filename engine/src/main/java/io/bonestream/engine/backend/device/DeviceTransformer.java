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
 * Attention stacks the G query heads of a key/value head: q (B, Hkv, G·T, hd), so one strided
 * batched GEMM over B·Hkv serves every head and the key/value gradients sum over the group.
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
   * sum of token losses / {@code lossDenominator}. Returns the sum.
   */
  LossSum forwardBackward(DeviceAdapters ad, TokenBatch batch, double lossDenominator) {
    synchronized (m) {
      Workspace w = prepare(batch, ad);
      forward(ad, w, batch.batch(), batch.seq(), true);
      loss(w, batch, (float) (1.0 / lossDenominator), true);
      backward(ad, w, batch.batch(), batch.seq());
      return new LossSum(lossSum(w, batch), batch.targetCount(), batch.targetWeight()); // read last: no stall

    }
  }

  /** The loss sum of a batch, no gradients; {@code ad} may be null (the base alone). */
  LossSum loss(DeviceAdapters ad, TokenBatch batch) {
    synchronized (m) {
      Workspace w = prepare(batch, ad);
      forward(ad, w, batch.batch(), batch.seq(), false);
      loss(w, batch, 0f, false);
      return new LossSum(lossSum(w, batch), batch.targetCount(), batch.targetWeight());
    }
  }

  /** Logits (T, V) of every position of one sequence; {@code ad} may be null. */
  float[] logits(DeviceAdapters ad, int[] ids) {
    synchronized (m) {
      TokenBatch batch = TokenBatch.ofIds(ids);
      Workspace w = prepare(batch, ad);
      forward(ad, w, 1, ids.length, false);
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
   * The forward pass; with {@code training}, what the backward pass reads is kept (and the normed
   * inputs where the method asks, see {@link #keepsNormed}).
   */
  private void forward(DeviceAdapters ad, Workspace w, int b, int t, boolean training) {
    AdapterPass pass = ad == null ? null : AdapterPass.start(m, ad, w, false);
    boolean keep = training && keepsNormed(pass);
    int n = b * t;
    int dm = c.hiddenSize();
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int g = c.groupSize();
    int hd = c.headDim();
    int f = c.intermediateSize();
    float eps = (float) c.rmsNormEps();
    d.embed(w.ids, m.embed(), w.xs[0], n, dm);
    for (int l = 0; l < c.numLayers(); l++) {
      DeviceModel.Layer lw = m.layer(l);
      // attention block: x + o_proj(attention(rope(q), rope(k), v)) on h = RMSNorm(x)
      Buf hAtt = keep ? w.normedAtt(l) : w.h;
      d.rmsnormForward(w.xs[l], lw.inputNorm(), eps, hAtt, w.inv1[l], n, dm);
      inputSums(pass, hAtt, dm, w.sAtt[l], n, l, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ);
      project(pass, l, Projection.Q_PROJ, hAtt, w.sAtt[l], w.q, 0f, n);    // (N, Dq)
      project(pass, l, Projection.K_PROJ, hAtt, w.sAtt[l], w.k, 0f, n);    // (N, Dkv)
      project(pass, l, Projection.V_PROJ, hAtt, w.sAtt[l], w.v, 0f, n);    // (N, Dkv)
      d.toHeads(w.q, null, 0, w.cos, w.sin, w.qr[l], b, t, h, hd, true);   // (B, H, T, hd)
      d.toHeads(w.k, null, 0, w.cos, w.sin, w.kr[l], b, t, hkv, hd, true); // (B, Hkv, T, hd)
      d.toHeads(w.v, null, 0, w.cos, w.sin, w.vr[l], b, t, hkv, hd, false);
      long gt = (long) g * t;
      // scores (B·Hkv, G·T, T) = q kᵀ / sqrt(hd); probs = causal softmax
      d.gemmBatched(false, true, (int) gt, t, hd, (float) (1.0 / Math.sqrt(hd)),
          w.qr[l], hd, gt * hd, w.kr[l], hd, (long) t * hd, 0f, w.scores, t, gt * t, b * hkv);
      d.causalSoftmax(w.scores, w.probs[l], (long) b * h * t, t);
      // out (B·Hkv, G·T, hd) = probs v, then back to rows (N, Dq)
      d.gemmBatched(false, false, (int) gt, hd, t, 1f, w.probs[l], t, gt * t, w.vr[l], hd, (long) t * hd,
          0f, w.heads, hd, gt * hd, b * hkv);
      d.fromHeads(w.heads, w.cos, w.sin, w.att[l], b, t, h, hd, false);
      d.copy(w.xs[l].slice(0, (long) n * dm), w.xmid[l].slice(0, (long) n * dm));
      inputSums(pass, w.att[l], h * hd, w.sO[l], n, l, Projection.O_PROJ);
      project(pass, l, Projection.O_PROJ, w.att[l], w.sO[l], w.xmid[l], 1f, n); // xmid = x + o_proj(att)
      // MLP block: x + down_proj(silu(gate_proj(h)) · up_proj(h)) on h = RMSNorm(x)
      Buf hMlp = keep ? w.normedMlp(l) : w.h;
      d.rmsnormForward(w.xmid[l], lw.postAttentionNorm(), eps, hMlp, w.inv2[l], n, dm);
      inputSums(pass, hMlp, dm, w.sMlp[l], n, l, Projection.GATE_PROJ, Projection.UP_PROJ);
      project(pass, l, Projection.GATE_PROJ, hMlp, w.sMlp[l], w.gate[l], 0f, n); // (N, F)
      project(pass, l, Projection.UP_PROJ, hMlp, w.sMlp[l], w.up[l], 0f, n);     // (N, F)
      d.swiglu(w.gate[l], w.up[l], w.a, (long) n * f);
      d.copy(w.xmid[l].slice(0, (long) n * dm), w.xs[l + 1].slice(0, (long) n * dm));
      inputSums(pass, w.a, f, w.sDown[l], n, l, Projection.DOWN_PROJ);
      project(pass, l, Projection.DOWN_PROJ, w.a, w.sDown[l], w.xs[l + 1], 1f, n);
    }
    d.rmsnormForward(w.xs[c.numLayers()], m.finalNorm(), eps, w.hf, w.invF, n, dm);
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

  private void backward(DeviceAdapters ad, Workspace w, int b, int t) {
    int n = b * t;
    int dm = c.hiddenSize();
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int g = c.groupSize();
    int hd = c.headDim();
    int f = c.intermediateSize();
    int dq = h * hd;
    int r = ad == null ? 0 : ad.r;
    float eps = (float) c.rmsNormEps();
    AdapterPass pass = ad == null ? null : AdapterPass.start(m, ad, w, true);
    d.rmsnormBackward(w.xs[c.numLayers()], m.finalNorm(), w.invF, w.dhf, null, 0, w.dx, actCopy(w), n, dm, false);
    for (int l = c.numLayers() - 1; l >= 0; l--) {
      DeviceModel.Layer lw = m.layer(l);
      // MLP block; dx is dL/d(xmid + down_proj(a)). down_proj's input a is recomputed where the
      // method needs it: along the SwiGLU backward for a method that merges weights (its weight
      // gradient Gᵀ a waits until then), before it for the others.
      boolean laterGrad = pass != null && pass.method().mergesWeights() && pass.site(l, Projection.DOWN_PROJ) != null;
      if (!laterGrad && needsInput(pass, l, Projection.DOWN_PROJ)) {
        d.swiglu(w.gate[l], w.up[l], w.a, (long) n * f);
      }
      Buf dA = w.dIn.slice(0, (long) n * f);
      TileTerm tile = new TileTerm();
      projectBackward(pass, l, Projection.DOWN_PROJ, w.dxAct, laterGrad ? null : w.a, w.sDown[l], dA, 0f, n, tile);
      d.swigluBackward(w.gate[l], w.up[l], dA, tileBuf(tile, w), r, w.dg, w.du, laterGrad ? w.a : null, n, f);
      if (laterGrad) {
        pass.method().weightGradient(pass, pass.site(l, Projection.DOWN_PROJ),
            m.layer(l).weight(Projection.DOWN_PROJ), w.dxAct, w.a, f, dm, n);
      }
      Buf hMlp = w.h;
      if (keepsNormed(pass)) {
        hMlp = w.normedMlp(l);
      } else if (needsInput(pass, l, Projection.GATE_PROJ, Projection.UP_PROJ)) {
        d.rmsnormForward(w.xmid[l], lw.postAttentionNorm(), eps, w.h, w.invTmp, n, dm);
      }
      tile = new TileTerm();
      projectBackward(pass, l, Projection.GATE_PROJ, w.dg, hMlp, w.sMlp[l], w.dh, 0f, n, tile);
      projectBackward(pass, l, Projection.UP_PROJ, w.du, hMlp, w.sMlp[l], w.dh, 1f, n, tile);
      d.rmsnormBackward(w.xmid[l], lw.postAttentionNorm(), w.inv2[l], w.dh, tileBuf(tile, w), r, w.dx, actCopy(w), n,
          dm, true);
      // attention block; dx is dL/d(x + o_proj(att))
      Buf dAtt = w.dIn.slice(0, (long) n * dq);
      tile = new TileTerm();
      projectBackward(pass, l, Projection.O_PROJ, w.dxAct, w.att[l], w.sO[l], dAtt, 0f, n, tile);
      d.toHeads(dAtt, tileBuf(tile, w), r, w.cos, w.sin, w.heads, b, t, h, hd, false); // dO (B, H, T, hd)
      long gt = (long) g * t;
      // dP = dO vᵀ (into the scores buffer), dV = Pᵀ dO
      d.gemmBatched(false, true, (int) gt, t, hd, 1f, w.heads, hd, gt * hd, w.vr[l], hd, (long) t * hd,
          0f, w.scores, t, gt * t, b * hkv);
      d.gemmBatched(true, false, t, hd, (int) gt, 1f, w.probs[l], t, gt * t, w.heads, hd, gt * hd,
          0f, w.dVh, hd, (long) t * hd, b * hkv);
      // dS = P · (dP − rowsum(P · dP)) / sqrt(hd); dQ = dS k, dK = dSᵀ q
      d.causalSoftmaxBackward(w.probs[l], w.scores, (float) (1.0 / Math.sqrt(hd)), w.dS, (long) b * h * t, t);
      d.gemmBatched(false, false, (int) gt, hd, t, 1f, w.dS, t, gt * t, w.kr[l], hd, (long) t * hd,
          0f, w.dQh, hd, gt * hd, b * hkv);
      d.gemmBatched(true, false, t, hd, (int) gt, 1f, w.dS, t, gt * t, w.qr[l], hd, gt * hd,
          0f, w.dKh, hd, (long) t * hd, b * hkv);
      d.fromHeads(w.dQh, w.cos, w.sin, w.dq, b, t, h, hd, true);       // (N, Dq), RoPE undone
      d.fromHeads(w.dKh, w.cos, w.sin, w.dk, b, t, hkv, hd, true);     // (N, Dkv)
      d.fromHeads(w.dVh, w.cos, w.sin, w.dv, b, t, hkv, hd, false);    // (N, Dkv)
      Buf hAtt = w.h;
      if (keepsNormed(pass)) {
        hAtt = w.normedAtt(l);
      } else if (needsInput(pass, l, Projection.Q_PROJ, Projection.K_PROJ, Projection.V_PROJ)) {
        d.rmsnormForward(w.xs[l], lw.inputNorm(), eps, w.h, w.invTmp, n, dm);
      }
      tile = new TileTerm();
      projectBackward(pass, l, Projection.Q_PROJ, w.dq, hAtt, w.sAtt[l], w.dh, 0f, n, tile);
      projectBackward(pass, l, Projection.K_PROJ, w.dk, hAtt, w.sAtt[l], w.dh, 1f, n, tile);
      projectBackward(pass, l, Projection.V_PROJ, w.dv, hAtt, w.sAtt[l], w.dh, 1f, n, tile);
      d.rmsnormBackward(w.xs[l], lw.inputNorm(), w.inv1[l], w.dh, tileBuf(tile, w), r, w.dx, actCopy(w), n, dm, true);
    }
    if (pass != null) {
      pass.method().finishBackward(pass);
    }
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
