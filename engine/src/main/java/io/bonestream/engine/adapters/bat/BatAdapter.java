package io.bonestream.engine.adapters.bat;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.model.Linear;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.DecompositionSolver;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bat, the paper's Block Affine Transformation with "Weight Guide": B (P, r, r), P = O/r, Q = I/r,
 * zero at start. W is cut into r×r blocks W_{a,b}; block a of B serves the whole a-th row band.
 *
 * <pre>
 * ΔW_{a,b} = (W_{a,b} + I_r) · B_a              y = x (W + ΔW)ᵀ
 * M = Gᵀ x (O, I);  dB_a = Σ_b (W_{a,b} + I_r)ᵀ M_{a,b};  dx = G (W + ΔW)
 * </pre>
 *
 * <p>Both sums over b run as one batched matmul over a "guide" tensor (P, Q·r, r) whose rows
 * {@code b·r + p} of slice a are the rows of {@code W_{a,b} + I_r}. The guide is a temporary of
 * each step (made in forward, used again and dropped in backward), never kept between steps: an
 * adapter holds no copy of W, whatever the number of adapters on one base model.
 */
public final class BatAdapter implements Adapter {
  private final Linear base;
  private final String name;
  private final int r;
  private final long p;
  private final long q;
  private final ParameterStore.Slot slot;
  private INDArray input;
  private INDArray stepGuide;
  private INDArray effectiveWeight;

  public BatAdapter(Linear base, int r, String name, ParameterStore store) {
    this.base = base;
    this.name = name;
    this.r = r;
    this.p = base.outFeatures() / r;
    this.q = base.inFeatures() / r;
    this.slot = store.take(p, r, r);
  }

  /** The guide (P, Q·r, r): element [a, b·r + p, s] = (W_{a,b} + I_r)[p, s]; a new array. */
  private INDArray guide() {
    INDArray eye = Nd4j.eye(r).castTo(base.weight().dataType()).reshape(1, 1, r, r);
    return toBlocks(base.weight()).reshape('c', p, q, r, r).addi(eye).reshape('c', p, q * r, r);
  }

  /** Trainable values of a bat adapter on {@code base}: (O/r)·r·r = r·O. */
  public static long parameterCount(Linear base, int r) {
    return r * base.outFeatures();
  }

  @Override
  public AdapterMethod method() {
    return AdapterMethod.BAT;
  }

  @Override
  public Linear base() {
    return base;
  }

  @Override
  public INDArray forward(INDArray x) {
    input = x;
    stepGuide = guide(); // kept for this step's backward, dropped there
    effectiveWeight = merged(stepGuide);
    return base.forward(x, effectiveWeight);
  }

  @Override
  public INDArray backward(INDArray gradOut) {
    INDArray m = Nd4j.createUninitialized(gradOut.dataType(), gradOut.size(1), input.size(1));
    Nd4j.gemm(gradOut, input, m, true, false, 1.0, 0.0); // M = Gᵀ x (O, I)
    INDArray g = stepGuide != null ? stepGuide : guide();
    grad().addi(Nd4j.matmul(g, toBlocks(m), null, true, false, false)); // (P, r, r)
    stepGuide = null; // no copy of W outlives the step
    return base.backward(gradOut, effectiveWeight);
  }

  /** X (O, I) → (P, Q·r, r), element [a, b·r + p, s] = X[a·r + p, b·r + s]. */
  private INDArray toBlocks(INDArray x) {
    return x.reshape('c', p, r, q, r).permute(0, 2, 1, 3).dup('c').reshape('c', p, q * r, r);
  }

  /** Inverse of {@link #toBlocks}. */
  private INDArray fromBlocks(INDArray d) {
    return d.reshape('c', p, q, r, r).permute(0, 2, 1, 3).dup('c')
        .reshape('c', base.outFeatures(), base.inFeatures());
  }

  @Override
  public INDArray mergedWeight() {
    return merged(guide());
  }

  private INDArray merged(INDArray guide) {
    INDArray delta = fromBlocks(Nd4j.matmul(guide, block())); // ΔW_{a,b} = (W_{a,b} + I) B_a
    return delta.addi(base.weight());
  }

  /** W_{a,b} = (W'_{a,b} − B_a)(I_r + B_a)⁻¹; refuses a singular I_r + B_a. */
  @Override
  public INDArray unmergedWeight(INDArray merged) {
    INDArray block = block();
    INDArray shifted = toBlocks(merged).reshape('c', p, q, r, r).subi(block.reshape(p, 1, r, r))
        .reshape('c', p, q * r, r);
    INDArray inverses = block.ulike();
    for (int a = 0; a < p; a++) {
      double[][] m = block.slice(a).toDoubleMatrix();
      for (int i = 0; i < r; i++) {
        m[i][i] += 1.0;
      }
      DecompositionSolver solver = new LUDecomposition(new Array2DRowRealMatrix(m, false)).getSolver();
      if (!solver.isNonSingular()) {
        throw new BonestreamException("cannot unmerge the bat adapter of " + name
            + ": I + B[" + a + "] is singular");
      }
      RealMatrix inv = solver.getInverse();
      inverses.slice(a).assign(Nd4j.create(inv.getData()).castTo(block.dataType()));
    }
    return fromBlocks(Nd4j.matmul(shifted, inverses));
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

  /** B: a view of the adapter set's flat values (made when asked: see {@link ParameterStore.Slot}). */
  private INDArray block() {
    return slot.value();
  }

  /** dB: a view of the adapter set's flat gradients. */
  private INDArray grad() {
    return slot.grad();
  }
}
