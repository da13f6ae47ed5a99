package io.bonestream.engine.backend;

/**
 * A backend held for one base model in this JVM: the factory of its trainers, sharing one device
 * copy of the base (uploaded on the first {@link Backends#acquire}, freed when the last holder
 * closes). Close it once, when done.
 */
public interface SharedBackend extends BackendFactory, AutoCloseable {
  /** e.g. {@code cpu} or {@code cuda bf16 on NVIDIA H200 ...}. */
  String describe();

  /** Bytes this JVM holds on the device (weights, workspaces, adapters); 0 on the CPU. */
  long deviceBytes();

  @Override
  void close();
}
