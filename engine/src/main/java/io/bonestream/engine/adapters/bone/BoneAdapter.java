package io.bonestream.engine.adapters.bone;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.model.Linear;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Bone with shard sharing (PEFT's default Bone, MiSS "balance"): one block B (r, O), zero at start.
 *
 * <pre>
 * K = ceil(I / r), x_pad = [x | 0]                    (pad only when I % r ≠ 0)
 * S[n, j] = Σ_k x_pad[n, k·r + j]                     (N, r): the sum of the K chunks of x
 * y = x Wᵀ + S B                                      ΔW[o, i] = B[i mod r, o]
 * dB = Sᵀ G,  dS = G Bᵀ,  dx = G W + tile(dS)[:, :I]
 * </pre>
 */
public final class BoneAdapter implements Adapter {
  private final Linear base;
  private final int r;
  private final ParameterStore.Slot slot;
  private INDArray chunkSum;

  public BoneAdapter(Linear base, int r, ParameterStore store) {
    this.base = base;
    this.r = r;
    this.slot = store.take(r, base.outFeatures());
  }

  /** Trainable values of a bone adapter on {@code base}: r·O. */
  public static long parameterCount(Linear base, int r) {
    return r * base.outFeatures();
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethod.BONE;
  }

  @Override
  public Linear base() {
    return base;
  }

  @Override
  public INDArray forward(INDArray x) {
    INDArray y = base.forward(x);
    chunkSum = chunkSum(x, r);
    Nd4j.gemm(chunkSum, block(), y, false, false, 1.0, 1.0);
    return y;
  }

  @Override
  public INDArray backward(INDArray gradOut) {
    Nd4j.gemm(chunkSum, gradOut, grad(), true, false, 1.0, 1.0);
    INDArray dS = Nd4j.createUninitialized(gradOut.dataType(), gradOut.size(0), r);
    Nd4j.gemm(gradOut, block(), dS, false, true, 1.0, 0.0);
    INDArray dx = base.backward(gradOut);
    addTiled(dx, dS, r);
    return dx;
  }

  /** x (N, I) → S (N, r): the sum of x's r-wide chunks, the last padded with zeros (also mini's). */
  public static INDArray chunkSum(INDArray x, int r) {
    long n = x.size(0);
    long in = x.size(1);
    long whole = in / r;
    int rem = (int) (in % r);
    if (rem == 0) {
      return x.reshape('c', n, whole, r).sum(1);
    }
    INDArray s = whole == 0 ? Nd4j.zeros(x.dataType(), n, r)
        : x.get(NDArrayIndex.all(), NDArrayIndex.interval(0, whole * r)).dup('c')
            .reshape('c', n, whole, r).sum(1);
    s.get(NDArrayIndex.all(), NDArrayIndex.interval(0, rem))
        .addi(x.get(NDArrayIndex.all(), NDArrayIndex.interval(whole * r, in)));
    return s;
  }

  /** dx (N, I) += dS (N, r) tiled along the columns and cut at I (also mini's). */
  public static void addTiled(INDArray dx, INDArray dS, int r) {
    long n = dx.size(0);
    long in = dx.size(1);
    if (in % r == 0) {
      dx.reshape('c', n, in / r, r).addi(dS.reshape('c', n, 1, r));
      return;
    }
    long k = (in + r - 1) / r;
    dx.addi(Nd4j.tile(dS, 1, (int) k).get(NDArrayIndex.all(), NDArrayIndex.interval(0, in)));
  }

  private INDArray deltaWeight() {
    return deltaWeight(block(), base.inFeatures());
  }

  /** ΔW (O, I) with ΔW[o, i] = block[i mod r, o], block (r, O) (also mini's). */
  public static INDArray deltaWeight(INDArray block, long in) {
    long r = block.size(0);
    long k = (in + r - 1) / r;
    return Nd4j.tile(block, (int) k, 1).get(NDArrayIndex.interval(0, in), NDArrayIndex.all())
        .transpose().dup('c');
  }

  @Override
  public INDArray mergedWeight() {
    return base.weight().add(deltaWeight());
  }

  @Override
  public INDArray unmergedWeight(INDArray merged) {
    return merged.sub(deltaWeight());
  }

  @Override
  public Map<String, INDArray> namedParameters() {
    Map<String, INDArray> m = new LinkedHashMap<>();
    m.put("miss_block", block());
    return m;
  }

  @Override
  public List<INDArray> gradients() {
    return List.of(grad());
  }

  public int r() {
    return r;
  }

  /** B: a view of the adapter set's flat values (made when asked: see {@link ParameterStore.Slot}). */
  private INDArray block() {
    return slot.value();
  }

  /** dB: a view of the adapter set's flat gradients. */
  private INDArray grad() {
    return slot.grad();
  }
}
