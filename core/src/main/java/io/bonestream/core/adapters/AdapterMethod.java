package io.bonestream.core.adapters;

import io.bonestream.core.util.Named;

/**
 * The adapter kinds: {@code bat} (the paper's Block Affine Transformation, the default),
 * {@code bone} (PEFT's shard sharing), {@code lora}, {@code mini} (MiSS mini: bone with fewer values).
 */
public enum AdapterMethod implements Named {
  BAT("bat"),
  BONE("bone"),
  LORA("lora"),
  /** MiSS "mini": bone's block made of an (r, mini_r) block repeated along the outputs. */
  MINI("mini");

  private final String id;

  AdapterMethod(String id) {
    this.id = id;
  }

  /** The name used on the command line and in files. */
  @Override
  public String id() {
    return id;
  }

  public static AdapterMethod fromId(String id) {
    return Named.parse(AdapterMethod.class, id, "adapter method");
  }

  @Override
  public String toString() {
    return id;
  }
}
