package io.bonestream.engine.backend;

import io.bonestream.core.BonestreamException;

/**
 * Where training runs, as configured: {@code cpu} (the CPU device; precision does not apply) or
 * {@code cuda} in {@code fp32} or {@code bf16}; and whether a training step recomputes each
 * layer's activations in the backward pass instead of keeping them ({@code recompute}: the same
 * results, less memory, about one more forward pass of time). Serializable: it travels inside Flink
 * operators.
 */
public record BackendSpec(String backend, Precision precision, boolean recompute) implements java.io.Serializable {
  public static final BackendSpec CPU = new BackendSpec("cpu", Precision.FP32);

  public BackendSpec {
    if (!backend.equals("cpu") && !backend.equals("cuda")) {
      throw new BonestreamException("unknown backend '" + backend + "' (known: cpu, cuda)");
    }
  }

  /** Without recomputation. */
  public BackendSpec(String backend, Precision precision) {
    this(backend, precision, false);
  }

  /** The same, recomputing activations or not. */
  public BackendSpec withRecompute(boolean on) {
    return new BackendSpec(backend, precision, on);
  }

  /** From the words of a command line or config file; precision defaults to bf16. */
  public static BackendSpec parse(String backend, String precision) {
    return new BackendSpec(backend, precision == null ? Precision.BF16 : Precision.fromId(precision));
  }

  public boolean isCpu() {
    return backend.equals("cpu");
  }

  @Override
  public String toString() {
    return (isCpu() ? "cpu" : backend + " " + precision) + (recompute ? ", recomputing activations" : "");
  }
}
