package io.bonestream.engine.config;

import io.bonestream.core.util.Named;

/** The optimizers, with PyTorch's update rules. */
public enum OptimizerKind implements Named {
  SGD("sgd"),
  ADAMW("adamw");

  private final String id;

  OptimizerKind(String id) {
    this.id = id;
  }

  @Override
  public String id() {
    return id;
  }

  public static OptimizerKind fromId(String id) {
    return Named.parse(OptimizerKind.class, id, "optimizer");
  }

  @Override
  public String toString() {
    return id;
  }
}
