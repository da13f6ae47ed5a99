package io.bonestream.engine.train;

import io.bonestream.engine.BonestreamException;

/** The optimizers, with PyTorch's update rules. */
public enum OptimizerKind {
  SGD("sgd"),
  ADAMW("adamw");

  private final String id;

  OptimizerKind(String id) {
    this.id = id;
  }

  public String id() {
    return id;
  }

  public static OptimizerKind fromId(String id) {
    for (OptimizerKind k : values()) {
      if (k.id.equals(id)) {
        return k;
      }
    }
    throw new BonestreamException("unknown optimizer '" + id + "' (known: sgd, adamw)");
  }

  @Override
  public String toString() {
    return id;
  }
}
