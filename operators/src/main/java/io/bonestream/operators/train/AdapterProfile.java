package io.bonestream.operators.train;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.config.TrainConfig;
import java.io.Serializable;

/**
 * How one adapter is trained: its kind and shape, its optimizer settings, and its held-out
 * evaluation and gate.
 */
public record AdapterProfile(AdapterConfig adapter, TrainConfig train, EvalPolicy eval) implements Serializable {
  /** Without evaluation. */
  public AdapterProfile(AdapterConfig adapter, TrainConfig train) {
    this(adapter, train, EvalPolicy.OFF);
  }
}
