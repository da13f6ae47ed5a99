package io.bonestream.engine.adapters;

import io.bonestream.engine.BonestreamException;

/** The adapter kinds: {@code bat} (the paper's Block Affine Transformation, the default), {@code bone} (PEFT's shard sharing), {@code lora}. */
public enum AdapterMethod {
  BAT("bat"),
  BONE("bone"),
  LORA("lora");

  private final String id;

  AdapterMethod(String id) {
    this.id = id;
  }

  /** The name used on the command line and in files. */
  public String id() {
    return id;
  }

  public static AdapterMethod fromId(String id) {
    for (AdapterMethod m : values()) {
      if (m.id.equals(id)) {
        return m;
      }
    }
    throw new BonestreamException("unknown adapter method '" + id + "' (known: bat, bone, lora)");
  }

  @Override
  public String toString() {
    return id;
  }
}
