package io.bonestream.engine.model;

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
    this.invFreq = new float[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      // As Hugging Face computes it, in float32: 1 / theta^(2i / d).
      float f = (float) (1.0 / (float) Math.pow(c.ropeTheta(), (2.0 * i) / headDim));
      invFreq[i] = scale(f, c.ropeScaling());
    }
  }

  /** Llama 3 / linear frequency scaling (the rope_scaling of config.json). */
  private static float scale(float freq, ModelConfig.RopeScaling s) {
    if (s == null) {
      return freq;
    }
    if (s.type().equals("linear")) {
      return (float) (freq / s.factor());
    }
    double lowWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
    double highWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
    double wavelen = 2 * Math.PI / freq;
    if (wavelen < highWavelen) {
      return freq;
    }
    if (wavelen > lowWavelen) {
      return (float) (freq / s.factor());
    }
    double smooth = (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
        / (s.highFreqFactor() - s.lowFreqFactor());
    return (float) ((1 - smooth) * freq / s.factor() + smooth * freq);
  }

  /** cos and sin tables for positions [start, start + length): each (1, length, 1, headDim). */
  public record Tables(INDArray cos, INDArray sin) {}

  public Tables tables(int start, int length, DataType type) {
    float[] cos = new float[length * headDim];
    float[] sin = new float[length * headDim];
    int half = headDim / 2;
    for (int t = 0; t < length; t++) {
      for (int i = 0; i < half; i++) {
        float angle = (float) (start + t) * invFreq[i];
        float c = (float) Math.cos(angle);
        float s = (float) Math.sin(angle);
        cos[t * headDim + i] = c;
        cos[t * headDim + half + i] = c;
        sin[t * headDim + i] = s;
        sin[t * headDim + half + i] = s;
      }
    }
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
