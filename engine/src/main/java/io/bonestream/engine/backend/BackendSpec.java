package io.bonestream.engine.backend;

import io.bonestream.core.BonestreamException;

/**
 * Where training runs, as configured: {@code cpu} (the ND4J engine; precision does not apply) or
 * {@code cuda} in {@code fp32} or {@code bf16}. Serializable: it travels inside Flink operators.
 */
public record BackendSpec(String backend, Precision precision) implements java.io.Serializable {
  public static final BackendSpec CPU = new BackendSpec("cpu", Precision.FP32);

  public BackendSpec {
    if (!backend.equals("cpu") && !backend.equals("cuda")) {
      throw new BonestreamException("unknown backend '" + backend + "' (known: cpu, cuda)");
    }
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
    return isCpu() ? "cpu" : backend + " " + precision;
  }
}
