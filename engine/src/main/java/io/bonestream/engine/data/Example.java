package io.bonestream.engine.data;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.List;

/**
 * One tokenized training example: input ids and aligned labels, −100 where a position is not a
 * target. Position t's logits are scored against {@code labels[t + 1]} (Hugging Face's shift), so
 * an example needs a target somewhere after its first position.
 */
public record Example(int[] inputIds, int[] labels) {
  public Example {
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

  public int length() {
    return inputIds.length;
  }

  /** Pads a list of examples into one batch. */
  public static TokenBatch batch(List<Example> examples) {
    List<int[]> ids = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    for (Example e : examples) {
      ids.add(e.inputIds());
      labels.add(e.labels());
    }
    return TokenBatch.of(ids, labels);
  }
}
