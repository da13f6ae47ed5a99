package io.bonestream.engine.adapters.lora;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.model.Linear;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LoRA, the baseline: A (r, I) with PEFT's init (Kaiming-uniform, a = √5, i.e. U(±1/√I)),
 * B (O, r) zero, scale s = alpha / r.
 *
 * <pre>
 * y = x Wᵀ + s · (x Aᵀ) Bᵀ
 * dB = s · Gᵀ (x Aᵀ),  dA = s · (G B)ᵀ x,  dx = G W + s · (G B) A
 * </pre>
 */
public final class LoraAdapter implements Adapter {
  private final Linear base;
  private final double scale;
  private final ParameterStore.Slot sa;
  private final ParameterStore.Slot sb;
  private INDArray input;
  private INDArray projected;

  public LoraAdapter(Linear base, int r, double alpha, Rng rng, ParameterStore store) {
    this.base = base;
    this.scale = alpha / r;
    long in = base.inFeatures();
    double bound = 1.0 / Math.sqrt(in);
    double[] init = new double[(int) (r * in)];
    for (int i = 0; i < init.length; i++) {
      init[i] = (2 * rng.nextDouble() - 1) * bound;
    }
    this.sa = store.take(r, in);
    this.sb = store.take(base.outFeatures(), r);
    sa.value().assign(Nd4j.create(init, new long[] {r, in}, 'c'));
  }

  /** Trainable values of a LoRA adapter on {@code base}: r·(I + O). */
  public static long parameterCount(Linear base, int r) {
    return r * (base.inFeatures() + base.outFeatures());
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethod.LORA;
  }

  @Override
  public Linear base() {
    return base;
  }

  public double scale() {
    return scale;
  }

  @Override
  public INDArray forward(INDArray x) {
    input = x;
    INDArray y = base.forward(x);
    INDArray a = a();
    projected = Nd4j.createUninitialized(x.dataType(), x.size(0), a.size(0));
    Nd4j.gemm(x, a, projected, false, true, 1.0, 0.0); // x Aᵀ (N, r)
    Nd4j.gemm(projected, b(), y, false, true, scale, 1.0);
    return y;
  }

  @Override
  public INDArray backward(INDArray gradOut) {
    Nd4j.gemm(gradOut, projected, sb.grad(), true, false, scale, 1.0);
    INDArray a = a();
    INDArray gb = Nd4j.createUninitialized(gradOut.dataType(), gradOut.size(0), a.size(0));
    Nd4j.gemm(gradOut, b(), gb, false, false, 1.0, 0.0); // G B (N, r)
    Nd4j.gemm(gb, input, sa.grad(), true, false, scale, 1.0);
    INDArray dx = base.backward(gradOut);
    Nd4j.gemm(gb, a, dx, false, false, scale, 1.0);
    return dx;
  }

  @Override
  public INDArray mergedWeight() {
    return base.weight().add(b().mmul(a()).muli(scale));
  }

  @Override
  public INDArray unmergedWeight(INDArray merged) {
    return merged.sub(b().mmul(a()).muli(scale));
  }

  @Override
  public Map<String, INDArray> namedParameters() {
    Map<String, INDArray> m = new LinkedHashMap<>();
    m.put("lora_A.weight", a());
    m.put("lora_B.weight", b());
    return m;
  }

  @Override
  public List<INDArray> gradients() {
    return List.of(sa.grad(), sb.grad());
  }

  /** A (r, I): a view of the adapter set's flat values (made when asked: see {@link ParameterStore.Slot}). */
  private INDArray a() {
    return sa.value();
  }

  /** B (O, r). */
  private INDArray b() {
    return sb.value();
  }
}
