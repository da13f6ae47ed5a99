package io.bonestream.engine.peft;

import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.adapters.bone.BoneAdapter;
import io.bonestream.engine.adapters.lora.LoraAdapter;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.eigen.Eigen;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * An adapter as a LoRA pair (A (k, I), B (O, k)) with scale 1 ({@code lora_alpha = k}).
 *
 * <ul>
 *   <li>{@code bone}: exact at k = r: {@code A[j, i] = 1 if i mod r = j}, {@code B = block^T}.
 *   <li>{@code bat}: ΔW = W' − W depends on W and has no exact low-rank form; it is cut to its best
 *       rank-k approximation (Eckart–Young), computed from the eigenvectors of the smaller Gram
 *       matrix: B·A projects ΔW onto its top-k singular subspace. The relative Frobenius error is
 *       reported.
 *   <li>{@code lora}: as it is, with its scale folded into B.
 * </ul>
 */
public final class LoraConversion {
  private LoraConversion() {}

  /** A LoRA pair and the error of the approximation: ‖ΔW − BA‖ and ‖ΔW‖ (Frobenius). */
  public record Pair(INDArray a, INDArray b, double errorNorm, double deltaNorm) {
    public int rank() {
      return (int) a.size(0);
    }
  }

  public static Pair convert(Adapter adapter, int rank) {
    if (adapter.method() == AdapterMethod.BONE) {
      BoneAdapter bone = (BoneAdapter) adapter;
      return exact(bone.namedParameters().get("miss_block"), bone.r(), adapter.base().inFeatures());
    }
    if (adapter.method() == AdapterMethod.MINI) {
      io.bonestream.engine.adapters.mini.MiniAdapter mini = (io.bonestream.engine.adapters.mini.MiniAdapter) adapter;
      return exact(mini.fullBlock(), mini.r(), adapter.base().inFeatures());
    }
    if (adapter.method() == AdapterMethod.LORA) {
      LoraAdapter l = (LoraAdapter) adapter;
      INDArray a = l.namedParameters().get("lora_A.weight").castTo(DataType.FLOAT);
      INDArray b = l.namedParameters().get("lora_B.weight").mul(l.scale()).castTo(DataType.FLOAT);
      return new Pair(a, b, 0.0, b.mmul(a).norm2Number().doubleValue());
    }
    INDArray delta = adapter.mergedWeight().sub(adapter.base().weight()).castTo(DataType.DOUBLE);
    return truncated(delta, rank);
  }

  /** bone's (and mini's) ΔW = (the block's rows tiled along the inputs)ᵀ is exactly B A: A selects i mod r. */
  private static Pair exact(INDArray block, int r, long in) { // block (r, O)
    float[] sel = new float[(int) (r * in)];
    for (int i = 0; i < in; i++) {
      sel[(int) ((i % r) * in + i)] = 1f;
    }
    INDArray a = Nd4j.create(sel, new long[] {r, in}, 'c');
    INDArray b = block.transpose().castTo(DataType.FLOAT).dup('c');
    return new Pair(a, b, 0.0, b.mmul(a).norm2Number().doubleValue());
  }

  /** Best rank-k approximation of delta (O, I), as B (O, k) · A (k, I). */
  static Pair truncated(INDArray delta, int rank) {
    long o = delta.size(0);
    long in = delta.size(1);
    int k = (int) Math.min(rank, Math.min(o, in));
    boolean left = o <= in;
    // Gram matrix of the smaller side; its eigenvectors are the singular vectors of that side.
    INDArray gram = left ? delta.mmul(delta.transpose()) : delta.transpose().mmul(delta);
    INDArray vectors = gram.dup('f');
    Eigen.symmetricGeneralizedEigenvalues(vectors, true); // ascending; vectors in columns
    long n = vectors.size(0);
    INDArray top = vectors.get(NDArrayIndex.all(), NDArrayIndex.interval(n - k, n)).dup('c'); // (n, k)
    INDArray a;
    INDArray b;
    if (left) {
      b = top;                               // U_k (O, k)
      a = top.transpose().mmul(delta);       // U_kᵀ ΔW (k, I)
    } else {
      b = delta.mmul(top);                   // ΔW V_k (O, k)
      a = top.transpose().dup('c');          // V_kᵀ (k, I)
    }
    double err = delta.sub(b.mmul(a)).norm2Number().doubleValue();
    return new Pair(a.castTo(DataType.FLOAT), b.castTo(DataType.FLOAT), err,
        delta.norm2Number().doubleValue());
  }
}
