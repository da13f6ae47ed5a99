package io.bonestream.core.model;

import io.bonestream.core.BonestreamException;
import java.util.Arrays;
import java.util.stream.Collectors;

/** The seven linear projections of a LLaMA decoder layer, by their Hugging Face module names. */
public enum Projection {
  Q_PROJ("q_proj", "self_attn"),
  K_PROJ("k_proj", "self_attn"),
  V_PROJ("v_proj", "self_attn"),
  O_PROJ("o_proj", "self_attn"),
  GATE_PROJ("gate_proj", "mlp"),
  UP_PROJ("up_proj", "mlp"),
  DOWN_PROJ("down_proj", "mlp");

  private final String moduleName;
  private final String block;
  /** Module paths by layer, made once: every adapter of every live trainer keys itself by one. */
  private final java.util.Map<Integer, String> paths = new java.util.concurrent.ConcurrentHashMap<>();

  Projection(String moduleName, String block) {
    this.moduleName = moduleName;
    this.block = block;
  }

  /** The module name used in PEFT's {@code target_modules}, e.g. {@code q_proj}. */
  public String moduleName() {
    return moduleName;
  }

  /** The module path inside a decoder, e.g. {@code model.layers.3.self_attn.q_proj}. */
  public String modulePath(int layer) {
    return paths.computeIfAbsent(layer, l -> "model.layers." + l + "." + block + "." + moduleName);
  }

  public static Projection fromModuleName(String name) {
    for (Projection p : values()) {
      if (p.moduleName.equals(name)) {
        return p;
      }
    }
    throw new BonestreamException("unknown target module '" + name + "' (known: "
        + Arrays.stream(values()).map(Projection::moduleName).collect(Collectors.joining(","))
        + ")");
  }
}
