package io.bonestream.engine.backend.device;

import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.DevicePass;

/**
 * What one decoder layer's forward pass leaves for its backward pass, besides the layer's input
 * (the workspace's {@code xs[l]}): one set per layer when the forward pass keeps them, or one set
 * that every layer's recomputed forward pass fills in turn (activation recomputation). All of it is
 * O(N) in the rows N = B·T: attention keeps its log-sum-exp per query row, not its probabilities.
 *
 * <p>Shapes: N rows, D hidden, H heads, Hkv key/value heads, hd head dim, Dq = H·hd, Dkv = Hkv·hd,
 * F intermediate, r the adapters' width.
 */
final class LayerActivations {
  final Buf xmid;  // residual stream after attention                          (N, D) F32
  final Buf inv1;  // input RMSNorm 1/rms                                       (N) F32
  final Buf inv2;  // post-attention RMSNorm 1/rms                              (N) F32
  final Buf qr;    // rotated queries, the G heads of a kv head in a row        (B, H, T, hd) = (B, Hkv, G·T, hd) act
  final Buf kr;    // rotated keys                                              (B, Hkv, T, hd) act
  final Buf vr;    // values                                                    (B, Hkv, T, hd) act
  final Buf lse;   // attention's log Σ_j exp(score) per query row              (B, H, T) F32
  final Buf att;   // attention output, o_proj's input                          (N, Dq) act
  final Buf gate;  //                                                           (N, F) act
  final Buf up;    //                                                           (N, F) act
  final Buf sAtt;  // the method's sums of the attention input (q, k, v)        (N, r) act
  final Buf sO;    // the method's sums of o_proj's input                       (N, r) act
  final Buf sMlp;  // the method's sums of the MLP input (gate, up)             (N, r) act
  final Buf sDown; // the method's sums of down_proj's input                    (N, r) act
  private final DevicePass.Memory memory;
  private final DType act;
  private final long normedSize;
  private Buf normedAtt; // the attention input RMSNorm(x), for a method that keeps it (N, D) act
  private Buf normedMlp; // the MLP input RMSNorm(xmid), the same                      (N, D) act

  LayerActivations(DevicePass.Memory memory, ModelConfig c, DType act, long rows, long batchHeadsSeq, int r) {
    long dm = c.hiddenSize();
    long dq = (long) c.numHeads() * c.headDim();
    long dkv = (long) c.numKvHeads() * c.headDim();
    long f = c.intermediateSize();
    this.memory = memory;
    this.normedSize = rows * dm;
    xmid = memory.alloc(DType.F32, rows * dm);
    inv1 = memory.alloc(DType.F32, rows);
    inv2 = memory.alloc(DType.F32, rows);
    qr = memory.alloc(act, rows * dq);
    kr = memory.alloc(act, rows * dkv);
    vr = memory.alloc(act, rows * dkv);
    lse = memory.alloc(DType.F32, batchHeadsSeq);
    att = memory.alloc(act, rows * dq);
    gate = memory.alloc(act, rows * f);
    up = memory.alloc(act, rows * f);
    sAtt = memory.alloc(act, rows * r);
    sO = memory.alloc(act, rows * r);
    sMlp = memory.alloc(act, rows * r);
    sDown = memory.alloc(act, rows * r);
    this.act = act;
  }

  /**
   * The normed inputs, kept by the forward pass for a method whose weight gradients Gᵀ x read them
   * (instead of recomputing them in the backward pass), made on first use.
   */
  Buf normedAtt() {
    normed();
    return normedAtt;
  }

  Buf normedMlp() {
    normed();
    return normedMlp;
  }

  private void normed() {
    if (normedAtt == null) {
      normedAtt = memory.alloc(act, normedSize);
      normedMlp = memory.alloc(act, normedSize);
    }
  }
}
