package io.bonestream.operators.train;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.config.TrainConfig;
import java.io.Serializable;

/**
 * How one adapter is trained: its kind and shape, its optimizer settings, its held-out evaluation
 * and gate, and its continual-learning guards (anchor, replay, drift: {@link ContinualPolicy}).
 */
public record AdapterProfile(AdapterConfig adapter, TrainConfig train, EvalPolicy eval, ContinualPolicy continual)
    implements Serializable {
  /** Without evaluation. */
  public AdapterProfile(AdapterConfig adapter, TrainConfig train) {
    this(adapter, train, EvalPolicy.OFF);
  }

  /** Without the continual-learning guards. */
  public AdapterProfile(AdapterConfig adapter, TrainConfig train, EvalPolicy eval) {
    this(adapter, train, eval, ContinualPolicy.OFF);
  }

  public AdapterProfile {
    if (continual == null) {
      continual = ContinualPolicy.OFF;
    }
    if (continual.drift().enabled() && continual.drift().onDrift() == ContinualPolicy.OnDrift.PIN && !eval.enabled()) {
      throw new io.bonestream.core.BonestreamException("on-drift: pin needs an eval set (eval-fraction above 0): "
          + "the pin holds until the new data's eval set is full");
    }
    if (continual.drift().enabled() && continual.drift().onDrift() == ContinualPolicy.OnDrift.REWARM
        && train.warmupSteps() == 0) {
      throw new io.bonestream.core.BonestreamException("on-drift: rewarm needs warmup-steps above 0: re-warming "
          + "starts the learning-rate schedule over, warmup first");
    }
  }
}
