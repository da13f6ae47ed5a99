package io.bonestream.engine.backend;

import io.bonestream.core.util.Named;

/**
 * The arithmetic of a device backend. {@code fp32}: every tensor and GEMM in float32, no TF32; it
 * meets the float32 golden tolerances of the CPU engine. {@code bf16}: base weights, activations
 * and GEMM operands in bfloat16 with float32 accumulation; the residual stream, norms, softmax,
 * loss, adapter master weights, gradients and optimizer moments stay float32.
 */
public enum Precision implements Named {
  FP32("fp32"),
  BF16("bf16");

  private final String id;

  Precision(String id) {
    this.id = id;
  }

  @Override
  public String id() {
    return id;
  }

  public static Precision fromId(String id) {
    return Named.parse(Precision.class, id, "precision");
  }

  @Override
  public String toString() {
    return id;
  }
}
