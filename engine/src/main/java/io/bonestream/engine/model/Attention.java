package io.bonestream.engine.model;

import io.bonestream.core.model.ModelConfig;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Causal grouped-query self-attention with rotary embeddings.
 *
 * <p>Notation: B batch, T new positions, S = start + T key positions, H query heads, Hkv key/value
 * heads, G = H / Hkv, hd head dim. Query head h reads key/value head h / G (Hugging Face's
 * repeat_interleave). Instead of repeating K and V, the G query heads of one group are stacked:
 * q becomes (B, Hkv, G·T, hd), so one batched matmul per group serves all G heads, and the
 * gradients of K and V sum over the group by construction.
 */
public final class Attention {
  private Attention() {}

  /** What the backward pass needs: rotated, grouped q; rotated k; v; softmax probabilities. */
  public record Saved(INDArray q, INDArray k, INDArray v, INDArray probs, Rope.Tables rope,
      int batch, int seq) {}

  public record Output(INDArray out, Saved saved) {}

  public record Grads(INDArray dq, INDArray dk, INDArray dv) {}

  /**
   * q (B·T, H·hd), k and v (B·T, Hkv·hd), projected but not yet rotated → (B·T, H·hd).
   * With a cache (B = 1), the new keys/values are stored at positions [start, start + T) and
   * attention reads all S = start + T cached positions.
   */
  public static Output forward(INDArray q, INDArray k, INDArray v, int batch, int seq,
      ModelConfig c, Rope.Tables rope, KvCache.@Nullable Layer cache, int start) {
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int g = c.groupSize();
    int hd = c.headDim();
    // (B·T, H·hd) → (B, T, H, hd) → rotate → (B, H, T, hd) → (B, Hkv, G·T, hd)
    INDArray qr = Rope.apply(q.reshape('c', batch, seq, h, hd), rope)
        .permute(0, 2, 1, 3).dup('c').reshape('c', batch, hkv, (long) g * seq, hd);
    INDArray kr = Rope.apply(k.reshape('c', batch, seq, hkv, hd), rope).permute(0, 2, 1, 3).dup('c');
    INDArray vr = v.reshape('c', batch, seq, hkv, hd).permute(0, 2, 1, 3).dup('c');
    INDArray keys = kr;
    INDArray values = vr;
    if (cache != null) {
      cache.write(kr, vr, start);
      keys = cache.keys(start + seq);
      values = cache.values(start + seq);
    }
    // scores (B, Hkv, G·T, S) = q kᵀ / sqrt(hd), masked where key position > query position
    INDArray scores = Nd4j.matmul(qr, keys, null, false, true, false).muli(1.0 / Math.sqrt(hd));
    if (seq > 1) {
      long s = start + seq;
      scores.reshape('c', batch, hkv, g, seq, s).addi(causalMask(seq, start, q.dataType()));
    }
    INDArray probs = Nd4j.exec(new SoftMax(scores, scores.ulike(), 3))[0];
    // (B, Hkv, G·T, hd) → (B, H, T, hd) → (B, T, H, hd) → (B·T, H·hd)
    INDArray o = Nd4j.matmul(probs, values).reshape('c', batch, h, seq, hd)
        .permute(0, 2, 1, 3).dup('c').reshape('c', (long) batch * seq, (long) h * hd);
    return new Output(o, new Saved(qr, kr, vr, probs, rope, batch, seq));
  }

  /** dOut (B·T, H·hd) → gradients of the unrotated q, k, v inputs. Training only (no cache). */
  public static Grads backward(Saved s, INDArray dOut, ModelConfig c) {
    int h = c.numHeads();
    int hkv = c.numKvHeads();
    int g = c.groupSize();
    int hd = c.headDim();
    int b = s.batch();
    int t = s.seq();
    INDArray dO = dOut.reshape('c', b, t, h, hd).permute(0, 2, 1, 3).dup('c')
        .reshape('c', b, hkv, (long) g * t, hd);
    INDArray dP = Nd4j.matmul(dO, s.v(), null, false, true, false); // (B, Hkv, G·T, T)
    INDArray dV = Nd4j.matmul(s.probs(), dO, null, true, false, false); // (B, Hkv, T, hd)
    // softmax backward: dS = P · (dP − rowsum(dP · P)), then the 1/sqrt(hd) scale
    INDArray rowDot = dP.mul(s.probs()).sum(true, 3);
    INDArray dS = dP.subi(rowDot).muli(s.probs()).muli(1.0 / Math.sqrt(hd));
    INDArray dQ = Nd4j.matmul(dS, s.k()); // (B, Hkv, G·T, hd)
    INDArray dK = Nd4j.matmul(dS, s.q(), null, true, false, false); // (B, Hkv, T, hd)
    INDArray dq = Rope.backward(dQ.reshape('c', b, h, t, hd).permute(0, 2, 1, 3).dup('c'), s.rope())
        .reshape('c', (long) b * t, (long) h * hd);
    INDArray dk = Rope.backward(dK.permute(0, 2, 1, 3).dup('c'), s.rope())
        .reshape('c', (long) b * t, (long) hkv * hd);
    INDArray dv = dV.permute(0, 2, 1, 3).dup('c').reshape('c', (long) b * t, (long) hkv * hd);
    return new Grads(dq, dk, dv);
  }

  /** (T, S) additive mask: 0 where key j ≤ start + i, −∞ elsewhere. */
  static INDArray causalMask(int seq, int start, DataType type) {
    int s = Math.addExact(start, seq);
    float[] m = new float[Math.multiplyExact(seq, s)]; // an overflow throws rather than wraps
    for (int i = 0; i < seq; i++) {
      for (int j = start + i + 1; j < s; j++) {
        m[i * s + j] = Float.NEGATIVE_INFINITY;
      }
    }
    return Nd4j.create(m, new long[] {seq, s}, 'c').castTo(type);
  }

  static INDArrayIndex[] positions(long from, long to) {
    return new INDArrayIndex[] {NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()};
  }
}
