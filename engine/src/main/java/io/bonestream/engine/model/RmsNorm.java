package io.bonestream.engine.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** RMSNorm: {@code y = x · invRms · w}, {@code invRms = 1 / sqrt(mean(x²) + eps)} per row. */
public final class RmsNorm {
  private RmsNorm() {}

  /** x (N, D), w (D) → y (N, D); {@code invRms} (N, 1) is kept for the backward pass. */
  public record Output(INDArray y, INDArray invRms) {}

  public static Output forward(INDArray x, INDArray w, double eps) {
    INDArray invRms = x.mul(x).mean(true, 1); // (N, 1)
    Transforms.pow(invRms.addi(eps), -0.5, false);
    INDArray y = x.mulColumnVector(invRms).muliRowVector(w);
    return new Output(y, invRms);
  }

  /**
   * dy (N, D) → dx (N, D). With g = dy·w and s = invRms:
   * {@code dx = s·g − x · s³ · mean(g·x)}.
   */
  public static INDArray backward(INDArray x, INDArray w, INDArray invRms, INDArray dy) {
    INDArray g = dy.mulRowVector(w);
    INDArray meanGx = g.mul(x).mean(true, 1); // (N, 1)
    INDArray coef = meanGx.muli(invRms).muli(invRms).muli(invRms); // s³ · mean(g·x)
    return g.muliColumnVector(invRms).subi(x.mulColumnVector(coef));
  }
}
