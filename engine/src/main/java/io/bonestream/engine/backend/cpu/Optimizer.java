package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * PyTorch's SGD (no momentum; weight decay added to the gradient) and AdamW (decoupled weight
 * decay, bias-corrected moments). It updates the flat parameter array in place, all tensors at
 * once, which is what PyTorch does tensor by tensor.
 */
public final class Optimizer {
  private final TrainConfig config;
  private final INDArray expAvg;   // AdamW first moments (flat); null for SGD
  private final INDArray expAvgSq; // AdamW second moments (flat); null for SGD

  /** Fresh state (zero moments) for a flat parameter array. */
  public Optimizer(TrainConfig config, INDArray params) {
    this.config = config;
    boolean adam = config.optimizer() == OptimizerKind.ADAMW;
    this.expAvg = adam ? params.ulike().assign(0) : null;
    this.expAvgSq = adam ? params.ulike().assign(0) : null;
  }

  /** The optimizer's tensors: for AdamW the flat first and second moments; none for SGD. */
  public List<INDArray> stateTensors() {
    return expAvg == null ? List.of() : List.of(expAvg, expAvgSq);
  }

  /**
   * Applies one update with learning rate {@code lr}; {@code update} is the 1-based count of
   * updates so far including this one (AdamW's bias correction).
   */
  public void step(INDArray params, INDArray grads, double lr, long update) {
    if (config.optimizer() == OptimizerKind.SGD) {
      INDArray g = config.weightDecay() != 0 ? grads.add(params.mul(config.weightDecay())) : grads;
      params.subi(g.mul(lr));
      return;
    }
    double b1 = config.beta1();
    double b2 = config.beta2();
    if (config.weightDecay() != 0) {
      params.muli(1.0 - lr * config.weightDecay());
    }
    expAvg.muli(b1).addi(grads.mul(1.0 - b1));
    expAvgSq.muli(b2).addi(grads.mul(grads).muli(1.0 - b2));
    double bias1 = 1.0 - Math.pow(b1, update);
    double bias2 = 1.0 - Math.pow(b2, update);
    INDArray denom = Transforms.sqrt(expAvgSq, true).divi(Math.sqrt(bias2)).addi(config.eps());
    params.subi(expAvg.div(denom).muli(lr / bias1));
  }
}
