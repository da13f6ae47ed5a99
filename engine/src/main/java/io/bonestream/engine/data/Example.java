package io.bonestream.engine.data;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.List;

/**
 * One tokenized training example: input ids and aligned labels, −100 where a position is not a
 * target. Position t's logits are scored against {@code labels[t + 1]} (Hugging Face's shift), so
 * an example needs a target somewhere after its first position. {@code weight} scales its tokens
 * in the loss, which is the weighted mean over all target tokens of a step.
 */
public record Example(int[] inputIds, int[] labels, float weight) {
  public Example(int[] inputIds, int[] labels) {
    this(inputIds, labels, 1f);
  }

  public Example {
    if (!(weight > 0) || !Float.isFinite(weight)) {
      throw new BonestreamException("an example's weight must be a positive number, got " + weight);
    }
    if (inputIds.length != labels.length) {
      throw new BonestreamException("input_ids has " + inputIds.length + " tokens but labels has "
          + labels.length);
    }
    if (targetCount(labels) == 0) {
      throw new BonestreamException("the example has no target token (every label after the "
          + "first position is -100)");
    }
  }

  /** Targets that count in the loss: labels after the first position that are not −100. */
  public static int targetCount(int[] labels) {
    int n = 0;
    for (int i = 1; i < labels.length; i++) {
      if (labels[i] != TokenBatch.IGNORE) {
        n++;
      }
    }
    return n;
  }

  public int targetCount() {
    return targetCount(labels);
  }

  public Example withWeight(float w) {
    return new Example(inputIds, labels, w);
  }

  public int length() {
    return inputIds.length;
  }

  /** Pads a list of examples into one batch. */
  public static TokenBatch batch(List<Example> examples) {
    List<int[]> ids = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    float[] weights = new float[examples.size()];
    for (int i = 0; i < weights.length; i++) {
      Example e = examples.get(i);
      ids.add(e.inputIds());
      labels.add(e.labels());
      weights[i] = e.weight();
    }
    return TokenBatch.of(ids, labels, weights);
  }
}
