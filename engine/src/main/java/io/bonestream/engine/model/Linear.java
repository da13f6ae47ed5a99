package io.bonestream.engine.model;

import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A frozen linear layer {@code y = x Wᵀ + b}, W of shape (out, in). Immutable and shared: every
 * adapter of every stream reads the same W, none writes it. A layer of a model loaded from a
 * folder knows its shape at once and makes its arrays when first used ({@link #lazy}): an adapter
 * trained on a device never makes them.
 */
public final class Linear {
  private final long outFeatures;
  private final long inFeatures;
  private final @Nullable Supplier<Linear> loader;
  private volatile @Nullable INDArray weight; // written after bias: reading it first makes bias visible
  private @Nullable INDArray bias;

  public Linear(INDArray weight, @Nullable INDArray bias) {
    this.outFeatures = weight.size(0);
    this.inFeatures = weight.size(1);
    this.loader = null;
    this.weight = weight;
    this.bias = bias;
  }

  private Linear(long outFeatures, long inFeatures, Supplier<Linear> loader) {
    this.outFeatures = outFeatures;
    this.inFeatures = inFeatures;
    this.loader = loader;
  }

  /** A layer of shape (out, in) whose arrays {@code loader} makes on first use. */
  public static Linear lazy(long outFeatures, long inFeatures, Supplier<Linear> loader) {
    return new Linear(outFeatures, inFeatures, loader);
  }

  /** W, shape (out, in). Never modify it. */
  public INDArray weight() {
    load();
    return weight;
  }

  public @Nullable INDArray bias() {
    load();
    return bias;
  }

  public long outFeatures() {
    return outFeatures;
  }

  public long inFeatures() {
    return inFeatures;
  }

  private void load() {
    if (weight == null && loader != null) {
      synchronized (this) {
        if (weight == null) {
          Linear l = loader.get();
          bias = l.bias();
          weight = l.weight();
        }
      }
    }
  }

  /** x (N, in) → y (N, out) with the given weight in place of W (adapters pass W + ΔW). */
  public INDArray forward(INDArray x, INDArray w) {
    INDArray y = Nd4j.createUninitialized(x.dataType(), x.size(0), w.size(0));
    Nd4j.gemm(x, w, y, false, true, 1.0, 0.0);
    INDArray b = bias();
    if (b != null) {
      y.addiRowVector(b);
    }
    return y;
  }

  public INDArray forward(INDArray x) {
    return forward(x, weight());
  }

  /** dL/dx (N, in) = G (N, out) · W; W frozen, so no weight gradient. */
  public INDArray backward(INDArray gradOut, INDArray w) {
    INDArray dx = Nd4j.createUninitialized(gradOut.dataType(), gradOut.size(0), w.size(1));
    Nd4j.gemm(gradOut, w, dx, false, false, 1.0, 0.0);
    return dx;
  }

  public INDArray backward(INDArray gradOut) {
    return backward(gradOut, weight());
  }
}
