package io.bonestream.engine.model;

import io.bonestream.core.BonestreamException;
import java.util.List;

/**
 * Sequences right-padded to one length, flattened row-major: position t of sequence b is row
 * {@code b·seq + t}. {@code targets[n]} is the token that row n's logits must predict (the label
 * of the next position, Hugging Face's shift), or −1 where there is none; {@code weights[n]} is the
 * weight of that row's loss (its sequence's weight, 1 by default).
 *
 * @param targetWeight the sum of the weights of the target rows (the loss's denominator)
 */
public record TokenBatch(int batch, int seq, int[] ids, int[] targets, float[] weights,
    int targetCount, double targetWeight) {
  public static final int IGNORE = -100;
  private static final int PAD_ID = 0;

  /** Builds a batch of weight-1 sequences. */
  public static TokenBatch of(List<int[]> inputIds, List<int[]> labels) {
    float[] w = new float[inputIds.size()];
    java.util.Arrays.fill(w, 1f);
    return of(inputIds, labels, w);
  }

  /**
   * Builds a batch; {@code labels} use −100 for "not a target" and align with {@code inputIds};
   * {@code sequenceWeights} weigh each sequence's tokens in the loss.
   */
  public static TokenBatch of(List<int[]> inputIds, List<int[]> labels, float[] sequenceWeights) {
    if (inputIds.isEmpty() || inputIds.size() != labels.size()) {
      throw new IllegalArgumentException("need equally many id and label sequences, at least one");
    }
    int b = inputIds.size();
    int t = 0;
    for (int[] s : inputIds) {
      t = Math.max(t, s.length);
    }
    int[] ids = new int[b * t];
    int[] targets = new int[b * t];
    float[] weights = new float[b * t];
    java.util.Arrays.fill(ids, PAD_ID);
    java.util.Arrays.fill(targets, -1);
    int count = 0;
    double weight = 0;
    for (int i = 0; i < b; i++) {
      int[] s = inputIds.get(i);
      int[] l = labels.get(i);
      if (l.length != s.length) {
        throw new BonestreamException("labels and input_ids differ in length (" + l.length + " vs "
            + s.length + ")");
      }
      System.arraycopy(s, 0, ids, i * t, s.length);
      for (int p = 0; p + 1 < s.length; p++) {
        if (l[p + 1] != IGNORE) {
          targets[i * t + p] = l[p + 1];
          weights[i * t + p] = sequenceWeights[i];
          count++;
          weight += sequenceWeights[i];
        }
      }
    }
    return new TokenBatch(b, t, ids, targets, weights, count, weight);
  }

  /** A batch of one sequence with no targets (for generation and logits). */
  public static TokenBatch ofIds(int[] ids) {
    int[] targets = new int[ids.length];
    java.util.Arrays.fill(targets, -1);
    return new TokenBatch(1, ids.length, ids.clone(), targets, new float[ids.length], 0, 0);
  }

  public int rows() {
    return batch * seq;
  }
}
