package io.bonestream.engine.backend;

import io.bonestream.engine.model.BaseModel;

/**
 * A training backend beyond the CPU, found with {@link java.util.ServiceLoader} (the
 * {@code bonestream-cuda} module provides {@code cuda}), so that the engine and the Flink operators
 * need no compile-time dependency on it.
 */
public interface BackendProvider {
  /** The name used in configs, e.g. {@code cuda}. */
  String id();

  /** Checks that the backend can run here; throws a one-line error naming what is missing. */
  void check();

  /**
   * The backend for {@code base} in {@code spec}'s precision, sharing this JVM's device copy of it;
   * its trainers recompute activations when {@code spec} says so.
   */
  SharedBackend acquire(BaseModel base, BackendSpec spec);
}
