package io.bonestream.engine.model;

import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.LogSoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Token-level cross-entropy with ignored rows, the loss of a causal LM. Row n of the logits is
 * scored against {@code targets[n]}; a target of −1 means "not a target" (label −100 in HF).
 */
public final class CrossEntropy {
  private CrossEntropy() {}

  /** Sum of −log p(target) over target rows, and dLoss/dlogits for loss = sum / denominator. */
  public record Output(double lossSum, int targetCount, @Nullable INDArray gradLogits) {}

  /** logits (N, V); targets (N) with −1 for ignored rows. */
  public static Output forwardBackward(INDArray logits, int[] targets, double denominator) {
    INDArray logp = Nd4j.exec(new LogSoftMax(logits, 1))[0];
    double sum = 0;
    int count = 0;
    INDArray rowMask = Nd4j.zeros(logits.dataType(), logits.size(0), 1);
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        sum -= logp.getDouble(n, targets[n]);
        count++;
        rowMask.putScalar(n, 0, 1.0);
      }
    }
    // d/dlogits of −log softmax[target] = softmax − onehot(target), for target rows only
    INDArray grad = Transforms.exp(logp, false).muliColumnVector(rowMask);
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        grad.putScalar(n, targets[n], grad.getDouble(n, targets[n]) - 1.0);
      }
    }
    grad.muli(1.0 / denominator);
    return new Output(sum, count, grad);
  }

  /** The loss sum and count without gradient (evaluation). */
  public static Output forward(INDArray logits, int[] targets) {
    INDArray logp = Nd4j.exec(new LogSoftMax(logits, 1))[0];
    double sum = 0;
    int count = 0;
    for (int n = 0; n < targets.length; n++) {
      if (targets[n] >= 0) {
        sum -= logp.getDouble(n, targets[n]);
        count++;
      }
    }
    return new Output(sum, count, null);
  }
}
