package io.bonestream.engine.model;

import io.bonestream.core.model.ModelConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Rotary position embeddings in Hugging Face's rotate_half layout:
 * {@code y = x·cos + rotate_half(x)·sin}, {@code rotate_half([x1, x2]) = [−x2, x1]}, where the
 * frequency table is {@code cat(freqs, freqs)} over the head dimension.
 */
public final class Rope {
  private final float[] invFreq; // (headDim / 2)
  private final int headDim;

  public Rope(ModelConfig c) {
    this.headDim = c.headDim();
    this.invFreq = RopeFrequencies.inverse(c);
  }

  /** cos and sin tables for positions [start, start + length): each (1, length, 1, headDim). */
  public record Tables(INDArray cos, INDArray sin) {}

  public Tables tables(int start, int length, DataType type) {
    float[] cos = new float[length * headDim];
    float[] sin = new float[length * headDim];
    RopeFrequencies.tables(invFreq, start, length, cos, sin);
    long[] shape = {1, length, 1, headDim};
    return new Tables(Nd4j.create(cos, shape, 'c').castTo(type), Nd4j.create(sin, shape, 'c').castTo(type));
  }

  /** x (B, T, heads, headDim) → rotated, same shape. */
  public static INDArray apply(INDArray x, Tables t) {
    return x.mul(t.cos()).addi(rotateHalf(x).muli(t.sin()));
  }

  /** Backward of {@link #apply}: dx = dy·cos + rotate_halfᵀ(dy·sin), rotate_halfᵀ([a, b]) = [b, −a]. */
  public static INDArray backward(INDArray dy, Tables t) {
    INDArray z = dy.mul(t.sin());
    long h = z.size(3) / 2;
    INDArray a = z.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, h));
    INDArray b = z.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(h, 2 * h));
    return dy.mul(t.cos()).addi(Nd4j.concat(3, b, a.neg()));
  }

  private static INDArray rotateHalf(INDArray x) {
    long h = x.size(3) / 2;
    INDArray x1 = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, h));
    INDArray x2 = x.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(h, 2 * h));
    return Nd4j.concat(3, x2.neg(), x1);
  }
}
