package io.bonestream.engine.model;

import io.bonestream.core.model.ModelConfig;

/**
 * The rotary frequencies and cos/sin tables of {@link Rope}, in plain Java (no ND4J) so that every
 * backend rotates with the very same float32 values.
 */
public final class RopeFrequencies {
  private RopeFrequencies() {}

  /** 1 / theta^(2i / d) for i < d/2, in float32 as Hugging Face computes it, then rope_scaling. */
  public static float[] inverse(ModelConfig c) {
    int headDim = c.headDim();
    float[] invFreq = new float[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      float f = (float) (1.0 / (float) Math.pow(c.ropeTheta(), (2.0 * i) / headDim));
      invFreq[i] = scale(f, c.ropeScaling());
    }
    return invFreq;
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

  /**
   * Fills {@code cos} and {@code sin}, each (length, headDim) row-major, for positions
   * [start, start + length): the frequency table is {@code cat(freqs, freqs)} over the head dim.
   */
  public static void tables(float[] invFreq, int start, int length, float[] cos, float[] sin) {
    int half = invFreq.length;
    int headDim = 2 * half;
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
  }
}
