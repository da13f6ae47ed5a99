package io.bonestream.engine.model;

import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A frozen linear layer {@code y = x Wᵀ + b}, W of shape (out, in). Immutable and shared: every
 * adapter of every stream reads the same W, none writes it.
 */
public final class Linear {
  private final INDArray weight;
  private final @Nullable INDArray bias;

  public Linear(INDArray weight, @Nullable INDArray bias) {
    this.weight = weight;
    this.bias = bias;
  }

  /** W, shape (out, in). Never modify it. */
  public INDArray weight() {
    return weight;
  }

  public @Nullable INDArray bias() {
    return bias;
  }

  public long outFeatures() {
    return weight.size(0);
  }

  public long inFeatures() {
    return weight.size(1);
  }

  /** x (N, in) → y (N, out) with the given weight in place of W (adapters pass W + ΔW). */
  public INDArray forward(INDArray x, INDArray w) {
    INDArray y = Nd4j.createUninitialized(x.dataType(), x.size(0), w.size(0));
    Nd4j.gemm(x, w, y, false, true, 1.0, 0.0);
    if (bias != null) {
      y.addiRowVector(bias);
    }
    return y;
  }

  public INDArray forward(INDArray x) {
    return forward(x, weight);
  }

  /** dL/dx (N, in) = G (N, out) · W; W frozen, so no weight gradient. */
  public INDArray backward(INDArray gradOut, INDArray w) {
    INDArray dx = Nd4j.createUninitialized(gradOut.dataType(), gradOut.size(0), w.size(1));
    Nd4j.gemm(gradOut, w, dx, false, false, 1.0, 0.0);
    return dx;
  }

  public INDArray backward(INDArray gradOut) {
    return backward(gradOut, weight);
  }
}
