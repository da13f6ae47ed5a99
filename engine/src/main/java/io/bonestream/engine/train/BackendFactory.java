package io.bonestream.engine.train;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.backend.cpu.CpuBackend;
import io.bonestream.engine.model.BaseModel;

/**
 * Opens the {@link TrainingBackend} of a {@link Trainer}: where its math runs. {@link #CPU} is the
 * ND4J engine; the CUDA backend's factory comes from the {@code bonestream-cuda} module.
 */
@FunctionalInterface
public interface BackendFactory {
  /** The ND4J CPU engine, training {@code adapters} in place. */
  BackendFactory CPU = CpuBackend::new;

  /**
   * A backend training {@code adapters}, starting from their current values. A device backend
   * copies them; the trainer copies them back when they are read.
   */
  TrainingBackend open(BaseModel base, AdapterSet adapters, TrainConfig config);
}
