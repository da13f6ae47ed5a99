package io.bonestream.engine.adapters.mini;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.adapters.bone.BoneAdapter;
import io.bonestream.engine.model.Linear;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
  /** B of the pass in flight, made by forward, read by backward. */
  private INDArray passBlock;

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
    chunkSum = BoneAdapter.chunkSum(x, r);
    passBlock = block();
    Nd4j.gemm(chunkSum, passBlock, y, false, false, 1.0, 1.0);
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
    Nd4j.gemm(gradOut, passBlock, dS, false, true, 1.0, 0.0);
    INDArray dx = base.backward(gradOut);
    BoneAdapter.addTiled(dx, dS, r);
    return dx;
  }

  private INDArray deltaWeight() {
    return BoneAdapter.deltaWeight(block(), base.inFeatures());
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
