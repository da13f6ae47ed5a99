package io.bonestream.engine.adapters.mini;

import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.model.Linear;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * MiSS "mini" (PEFT's {@code init_weights="mini"}): bone's update with its block B (r, O) made of
 * a trainable B_mini (r, m), m = {@code mini_r}, repeated O / m times along the output dimension.
 * Zero at start.
 *
 * <pre>
 * K = ceil(I / r), x_pad = [x | 0]                    (pad only when I % r ≠ 0)
 * S[n, j] = Σ_k x_pad[n, k·r + j]                     (N, r): the sum of the K chunks of x
 * B[:, o] = B_mini[:, o mod m]                        (r, O), O % m = 0
 * y = x Wᵀ + S B                                      ΔW[o, i] = B_mini[i mod r, o mod m]
 * dB_mini[:, j] = Σ_{o mod m = j} (Sᵀ G)[:, o],  dS = G Bᵀ,  dx = G W + tile(dS)[:, :I]
 * </pre>
 */
public final class MiniAdapter implements Adapter {
  private final Linear base;
  private final int r;
  private final int miniR;
  private final ParameterStore.Slot slot;
  private INDArray chunkSum;

  public MiniAdapter(Linear base, int r, int miniR, ParameterStore store) {
    this.base = base;
    this.r = r;
    this.miniR = miniR;
    this.slot = store.take(r, miniR);
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethod.MINI;
  }

  @Override
  public Linear base() {
    return base;
  }

  public int r() {
    return r;
  }

  public int miniR() {
    return miniR;
  }

  /** B (r, O): B_mini repeated along the columns (a new array). */
  public INDArray fullBlock() {
    return block();
  }

  /** B (r, O): B_mini repeated along the columns. */
  private INDArray block() {
    return Nd4j.tile(slot.value(), 1, (int) (base.outFeatures() / miniR));
  }

  @Override
  public INDArray forward(INDArray x) {
    INDArray y = base.forward(x);
    chunkSum = chunkSum(x);
    Nd4j.gemm(chunkSum, block(), y, false, false, 1.0, 1.0);
    return y;
  }

  @Override
  public INDArray backward(INDArray gradOut) {
    long n = gradOut.size(0);
    long out = base.outFeatures();
    // Sᵀ G (r, O), folded onto B_mini's m columns
    INDArray full = Nd4j.createUninitialized(gradOut.dataType(), r, out);
    Nd4j.gemm(chunkSum, gradOut, full, true, false, 1.0, 0.0);
    slot.grad().addi(full.reshape('c', r, out / miniR, miniR).sum(1));
    INDArray dS = Nd4j.createUninitialized(gradOut.dataType(), n, r);
    Nd4j.gemm(gradOut, block(), dS, false, true, 1.0, 0.0);
    INDArray dx = base.backward(gradOut);
    addTiled(dx, dS);
    return dx;
  }

  /** x (N, I) → S (N, r). */
  private INDArray chunkSum(INDArray x) {
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

  /** dx (N, I) += dS tiled along the columns and cut at I. */
  private void addTiled(INDArray dx, INDArray dS) {
    long n = dx.size(0);
    long in = dx.size(1);
    if (in % r == 0) {
      dx.reshape('c', n, in / r, r).addi(dS.reshape('c', n, 1, r));
      return;
    }
    long k = (in + r - 1) / r;
    dx.addi(Nd4j.tile(dS, 1, (int) k).get(NDArrayIndex.all(), NDArrayIndex.interval(0, in)));
  }

  /** ΔW (O, I) with ΔW[o, i] = B[i mod r, o]. */
  private INDArray deltaWeight() {
    long in = base.inFeatures();
    long k = (in + r - 1) / r;
    return Nd4j.tile(block(), (int) k, 1).get(NDArrayIndex.interval(0, in), NDArrayIndex.all())
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
    m.put("miss_block", slot.value());
    return m;
  }

  @Override
  public List<INDArray> gradients() {
    return List.of(slot.grad());
  }
}
