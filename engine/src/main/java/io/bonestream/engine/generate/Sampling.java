package io.bonestream.engine.generate;

import io.bonestream.core.BonestreamException;

/**
 * How the next token is chosen: greedy (temperature 0), or sampled from softmax(logits / T)
 * restricted to the smallest set of most likely tokens whose probability reaches top-p.
 */
public record Sampling(int maxNewTokens, double temperature, double topP, long seed, boolean stopAtEos) {
  public Sampling {
    if (maxNewTokens < 0) {
      throw new BonestreamException("max new tokens must be ≥ 0, got " + maxNewTokens);
    }
    if (!(temperature >= 0) || !Double.isFinite(temperature)) {
      throw new BonestreamException("temperature must be ≥ 0, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new BonestreamException("top-p must be in (0, 1], got " + topP);
    }
  }

  public static Sampling greedy(int maxNewTokens) {
    return new Sampling(maxNewTokens, 0, 1, 0, true);
  }
}
