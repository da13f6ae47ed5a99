package io.bonestream.engine.adapters;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.model.Linear;
import io.bonestream.engine.model.LinearOverride;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A trainable adapter around one frozen linear layer. It replaces the layer in the forward pass
 * and adds its parameter gradients during the backward pass.
 *
 * <p>An adapter remembers what its last {@link #forward} needs for {@link #backward}; the model
 * calls them in strict forward-then-reverse order, one micro-batch at a time.
 */
public interface Adapter extends LinearOverride {
  AdapterMethod method();

  /** The frozen layer this adapter modifies (shared, never written). */
  Linear base();

  /** x (N, in) → y (N, out), the base layer's output plus the adapter's contribution. */
  @Override
  INDArray forward(INDArray x);

  /** dL/dy (N, out) → dL/dx (N, in); adds dL/dθ to {@link #gradients()}. */
  @Override
  INDArray backward(INDArray gradOut);

  /** W + ΔW, a new array; the base weight is not changed. */
  INDArray mergedWeight();

  /** Recovers W from a merged weight W + ΔW. */
  INDArray unmergedWeight(INDArray merged);

  /**
   * The trainable tensors under their PEFT names (e.g. {@code miss_block}, {@code lora_A.weight}),
   * in a fixed order. The optimizer updates them in place.
   */
  Map<String, INDArray> namedParameters();

  /** Gradient accumulators, same order and shapes as {@link #namedParameters()}. */
  List<INDArray> gradients();

  default List<INDArray> parameters() {
    return List.copyOf(namedParameters().values());
  }

  default void zeroGradients() {
    for (INDArray g : gradients()) {
      g.assign(0);
    }
  }

  default long parameterCount() {
    long n = 0;
    for (INDArray p : namedParameters().values()) {
      n += p.length();
    }
    return n;
  }
}
