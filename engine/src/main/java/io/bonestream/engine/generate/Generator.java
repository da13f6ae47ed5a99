package io.bonestream.engine.generate;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.model.KvCache;
import io.bonestream.engine.model.Transformer;
import java.util.Arrays;
import java.util.function.IntConsumer;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Autoregressive decoding with a KV cache: the prompt in one pass, then one token at a time. */
public final class Generator {
  private Generator() {}

  /**
   * Generates after {@code prompt}; returns only the new tokens (the end-of-sequence token
   * included, when it stopped there). {@code onToken} sees each new token as it comes.
   */
  public static int[] generate(Transformer model, int[] prompt, Sampling s, int eosId,
      IntConsumer onToken) {
    if (prompt.length == 0) {
      throw new BonestreamException("the prompt has no tokens");
    }
    int limit = model.base().config().maxPositionEmbeddings();
    if (prompt.length >= limit) {
      throw new BonestreamException("the prompt has " + prompt.length + " tokens; the model takes "
          + "at most " + limit);
    }
    int maxNew = Math.min(s.maxNewTokens(), limit - prompt.length);
    KvCache cache = model.newCache(prompt.length + maxNew);
    Rng rng = new Rng(s.seed());
    int[] out = new int[maxNew];
    int n = 0;
    int[] next = prompt;
    while (n < maxNew) {
      INDArray logits = model.decode(next, cache);
      int token = s.temperature() == 0 ? logits.argMax().getInt(0)
          : sample(logits.toDoubleVector(), s.temperature(), s.topP(), rng);
      out[n++] = token;
      onToken.accept(token);
      if (s.stopAtEos() && token == eosId) {
        break;
      }
      next = new int[] {token};
    }
    return Arrays.copyOf(out, n);
  }

  /** Nucleus sampling over softmax(logits / temperature). */
  static int sample(double[] logits, double temperature, double topP, Rng rng) {
    int v = logits.length;
    double max = Double.NEGATIVE_INFINITY;
    for (double l : logits) {
      max = Math.max(max, l);
    }
    double[] p = new double[v];
    double sum = 0;
    for (int i = 0; i < v; i++) {
      p[i] = Math.exp((logits[i] - max) / temperature);
      sum += p[i];
    }
    Integer[] order = new Integer[v];
    for (int i = 0; i < v; i++) {
      order[i] = i;
      p[i] /= sum;
    }
    // Most likely first; ties by id, so the choice is a function of the seed alone.
    Arrays.sort(order, (a, b) -> p[a] != p[b] ? Double.compare(p[b], p[a]) : Integer.compare(a, b));
    double kept = 0;
    int count = 0;
    while (count < v && (count == 0 || kept < topP)) {
      kept += p[order[count++]];
    }
    double u = rng.nextDouble() * kept;
    double acc = 0;
    for (int i = 0; i < count; i++) {
      acc += p[order[i]];
      if (u < acc) {
        return order[i];
      }
    }
    return order[count - 1];
  }
}
