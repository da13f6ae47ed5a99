package io.bonestream.engine.model;

import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Token-level cross-entropy with ignored rows, the loss of a causal LM. Row n of the logits is
 * scored against {@code targets[n]} with weight {@code weights[n]}; a target of −1 means "not a
 * target" (label −100 in HF).
 */
public final class CrossEntropy {
  private CrossEntropy() {}

  /**
   * The weighted sum of −log p(target) over target rows, their count and total weight, and
   * dLoss/dlogits for loss = sum / denominator.
   */
  public record Output(double lossSum, int targetCount, double targetWeight, @Nullable INDArray gradLogits) {}

  /** logits (N, V); targets (N) with −1 for ignored rows; weights (N). */
  public static Output forwardBackward(INDArray logits, int[] targets, float[] weights, double denominator) {
    INDArray logp = Nd4j.exec(new LogSoftMax(logits, 1))[0];
    Output loss = sum(logp, targets, weights);
    INDArray rowWeight = Nd4j.zeros(logits.dataType(), logits.size(0), 1);
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        rowWeight.putScalar(n, 0, weights[n]);
      }
    }
    // d/dlogits of −w·log softmax[target] = w·(softmax − onehot(target)), for target rows only
    INDArray grad = Transforms.exp(logp, false).muliColumnVector(rowWeight);
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        grad.putScalar(n, targets[n], grad.getDouble(n, targets[n]) - weights[n]);
      }
    }
    grad.muli(1.0 / denominator);
    return new Output(loss.lossSum(), loss.targetCount(), loss.targetWeight(), grad);
  }

  /** The loss sum, count and weight without gradient (evaluation). */
  public static Output forward(INDArray logits, int[] targets, float[] weights) {
    return sum(Nd4j.exec(new LogSoftMax(logits, 1))[0], targets, weights);
  }

  private static Output sum(INDArray logp, int[] targets, float[] weights) {
    double sum = 0;
    int count = 0;
    double weight = 0;
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        sum -= weights[n] * logp.getDouble(n, targets[n]);
        count++;
        weight += weights[n];
      }
    }
    return new Output(sum, count, weight, null);
  }
}
