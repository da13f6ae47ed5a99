package io.bonestream.core.peft;

import io.bonestream.core.util.Named;

/**
 * Adapter folder formats: {@code miss} (PEFT ≥ 0.17, {@code .miss_block}), {@code bone} (PEFT
 * 0.14–0.18, {@code .bone_block}), {@code lora} (PEFT LoRA, what serving engines load) and
 * {@code merged} (a full Hugging Face model folder with the adapter folded into the weights).
 */
public enum PeftFormat implements Named {
  MISS("miss"),
  BONE("bone"),
  LORA("lora"),
  MERGED("merged");

  private final String id;

  PeftFormat(String id) {
    this.id = id;
  }

  @Override
  public String id() {
    return id;
  }

  public static PeftFormat fromId(String id) {
    return Named.parse(PeftFormat.class, id, "format");
  }

  @Override
  public String toString() {
    return id;
  }
}
