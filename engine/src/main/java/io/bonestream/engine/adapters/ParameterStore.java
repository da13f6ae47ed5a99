package io.bonestream.engine.adapters;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * All trainable parameters of an adapter set in one flat array, and their gradients in another;
 * each adapter tensor is a view into them. Zeroing, the gradient norm, clipping and the optimizer
 * then run as a few whole-array operations instead of a few per tensor.
 */
public final class ParameterStore {
  /** One tensor: its value and gradient, views of the flat arrays with the same shape. */
  public record Slot(INDArray value, INDArray grad) {}

  private final INDArray values;
  private final INDArray grads;
  private long next;

  public ParameterStore(DataType type, long size) {
    this.values = Nd4j.zeros(type, size);
    this.grads = Nd4j.zeros(type, size);
  }

  /** Hands out the next {@code shape}-sized slice, zero-initialized. */
  public Slot take(long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (next + n > values.length()) {
      throw new IllegalStateException("parameter store of " + values.length() + " is full");
    }
    Slot s = new Slot(values.get(NDArrayIndex.interval(next, next + n)).reshape('c', shape),
        grads.get(NDArrayIndex.interval(next, next + n)).reshape('c', shape));
    next += n;
    return s;
  }

  /** Every parameter, flat, in the order handed out. */
  public INDArray values() {
    return values;
  }

  /** Every gradient, flat, aligned with {@link #values()}. */
  public INDArray grads() {
    return grads;
  }
}
