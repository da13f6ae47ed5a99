package io.bonestream.engine.backend;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.cpu.CpuBackends;
import io.bonestream.engine.backend.cpu.Nd4jBackend;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.BaseModel;

/**
 * Opens the {@link TrainingBackend} of a trainer ({@code train.Trainer}): where its math runs. {@link #CPU} is the
 * CPU device ({@link CpuBackends}); {@link #ND4J} the reference engine; the CUDA backend's factory
 * comes from the {@code bonestream-cuda} module.
 */
@FunctionalInterface
public interface BackendFactory {
  /** The {@code cpu} backend: the CPU device for float32 models, the ND4J engine for others. */
  BackendFactory CPU = CpuBackends::open;

  /** The ND4J reference engine, training {@code adapters} in place (any data type). */
  BackendFactory ND4J = Nd4jBackend::new;

  /**
   * A backend training {@code adapters}, starting from their current values. A device backend
   * copies them; the trainer copies them back when they are read.
   */
  TrainingBackend open(BaseModel base, AdapterSet adapters, TrainConfig config);
}
