package io.bonestream.engine.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What takes a frozen linear layer's place in the {@link Transformer}: its forward pass and the
 * matching backward pass (an adapter, in {@code adapters}). The model knows no more of it, so the
 * model does not depend on the adapter methods.
 */
public interface LinearOverride {
  /** x (N, in) → y (N, out). */
  INDArray forward(INDArray x);

  /** dL/dy (N, out) → dL/dx (N, in), keeping what the override trains. */
  INDArray backward(INDArray gradOut);
}
