package io.bonestream.engine.train;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * PyTorch's SGD (no momentum; weight decay added to the gradient) and AdamW (decoupled weight
 * decay, bias-corrected moments). Parameters are updated in place, one tensor at a time, in the
 * adapter set's fixed order.
 */
public final class Optimizer {
  private final TrainConfig config;
  private final List<INDArray> exp;   // AdamW first moments, one per parameter
  private final List<INDArray> expSq; // AdamW second moments

  /** Fresh state (zero moments) for {@code params}. */
  public Optimizer(TrainConfig config, List<INDArray> params) {
    this.config = config;
    this.exp = new ArrayList<>();
    this.expSq = new ArrayList<>();
    if (config.optimizer() == OptimizerKind.ADAMW) {
      for (INDArray p : params) {
        exp.add(p.ulike().assign(0));
        expSq.add(p.ulike().assign(0));
      }
    }
  }

  /** The optimizer's tensors (for AdamW: all first moments, then all second moments). */
  public List<INDArray> stateTensors() {
    List<INDArray> out = new ArrayList<>(exp);
    out.addAll(expSq);
    return out;
  }

  /**
   * Applies one update with learning rate {@code lr}; {@code update} is the 1-based count of
   * updates so far including this one (AdamW's bias correction).
   */
  public void step(List<INDArray> params, List<INDArray> grads, double lr, long update) {
    for (int i = 0; i < params.size(); i++) {
      INDArray p = params.get(i);
      INDArray g = grads.get(i);
      if (config.optimizer() == OptimizerKind.SGD) {
        if (config.weightDecay() != 0) {
          g = g.add(p.mul(config.weightDecay()));
        }
        p.subi(g.mul(lr));
      } else {
        adamW(p, g, exp.get(i), expSq.get(i), lr, update);
      }
    }
  }

  private void adamW(INDArray p, INDArray g, INDArray m, INDArray v, double lr, long t) {
    double b1 = config.beta1();
    double b2 = config.beta2();
    if (config.weightDecay() != 0) {
      p.muli(1.0 - lr * config.weightDecay());
    }
    m.muli(b1).addi(g.mul(1.0 - b1));
    v.muli(b2).addi(g.mul(g).muli(1.0 - b2));
    double bias1 = 1.0 - Math.pow(b1, t);
    double bias2 = 1.0 - Math.pow(b2, t);
    INDArray denom = Transforms.sqrt(v, true).divi(Math.sqrt(bias2)).addi(config.eps());
    p.subi(m.div(denom).muli(lr / bias1));
  }
}
