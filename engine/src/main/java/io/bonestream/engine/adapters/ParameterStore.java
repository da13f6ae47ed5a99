package io.bonestream.engine.adapters;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * All trainable parameters of an adapter set in one flat array, and their gradients in another;
 * each adapter tensor is a view into them, made when asked ({@link Slot}). Zeroing, the gradient norm, clipping and the optimizer
 * then run as a few whole-array operations instead of a few per tensor.
 */
public final class ParameterStore {
  /**
   * One tensor: its place in the flat arrays. {@link #value()} and {@link #grad()} make a view
   * each time they are asked, and nothing keeps one: an ND4J view costs a few KB of Java objects,
   * which on small adapters would weigh more than their numbers (every live trainer holds an
   * adapter set; the device backends read the flat arrays, not the views).
   */
  public static final class Slot {
    private final INDArray values;
    private final INDArray grads;
    private final long offset;
    private final long[] shape;
    private final long length;

    private Slot(INDArray values, INDArray grads, long offset, long[] shape, long length) {
      this.values = values;
      this.grads = grads;
      this.offset = offset;
      this.shape = shape;
      this.length = length;
    }

    /** The tensor's values: a new view of the flat values. */
    public INDArray value() {
      return view(values);
    }

    /** The tensor's gradient: a new view of the flat gradients. */
    public INDArray grad() {
      return view(grads);
    }

    private INDArray view(INDArray flat) {
      return flat.get(NDArrayIndex.interval(offset, offset + length)).reshape('c', shape);
    }
  }

  private final INDArray values;
  private final INDArray grads;
  private long next;

  public ParameterStore(DataType type, long size) {
    this.values = Nd4j.zeros(type, size);
    this.grads = Nd4j.zeros(type, size);
  }

  /** Hands out the next {@code shape}-sized slice, zero-initialized; the slot keeps {@code shape}. */
  public Slot take(long... shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    if (next + n > values.length()) {
      throw new IllegalStateException("parameter store of " + values.length() + " is full");
    }
    Slot s = new Slot(values, grads, next, shape, n);
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
