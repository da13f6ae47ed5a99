package io.bonestream.engine.backend;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.BaseModel;
import java.util.ServiceLoader;

/** Opens the backend a {@link BackendSpec} names. */
public final class Backends {
  private Backends() {}

  /** The backend of {@code spec} for {@code base}; close it when done. */
  public static SharedBackend acquire(BackendSpec spec, BaseModel base) {
    if (spec.isCpu()) {
      return new SharedBackend() {
        @Override
        public io.bonestream.engine.backend.TrainingBackend open(BaseModel b, io.bonestream.engine.adapters.AdapterSet a,
            TrainConfig c) {
          return io.bonestream.engine.backend.cpu.CpuBackends.open(b, a, c, spec.recompute());
        }

        @Override
        public String describe() {
          return "cpu (" + io.bonestream.engine.backend.cpu.CpuDevice.get().describe() + ")";
        }

        @Override
        public long deviceBytes() {
          return 0;
        }

        @Override
        public void close() {}
      };
    }
    return provider(spec.backend()).acquire(base, spec);
  }

  /** Fails with one line when {@code spec}'s backend cannot run here (no GPU, a library missing). */
  public static void check(BackendSpec spec) {
    if (!spec.isCpu()) {
      provider(spec.backend()).check();
    }
  }

  private static BackendProvider provider(String id) {
    for (BackendProvider p : ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader())) {
      if (p.id().equals(id)) {
        return p;
      }
    }
    throw new BonestreamException("the " + id + " backend is not on the classpath (it is in bonestream-" + id + ")");
  }
}
