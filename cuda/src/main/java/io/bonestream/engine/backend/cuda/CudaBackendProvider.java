package io.bonestream.engine.backend.cuda;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.BackendProvider;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.DeviceBackends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.SharedBackend;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.BaseModel;
import java.util.IdentityHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The {@code cuda} backend for trainers (found by {@code ServiceLoader}): one CUDA context per JVM
 * (a Flink TaskManager), each base model uploaded once per precision and shared by every adapter
 * and slot, reference-counted like the host copy in {@code SharedModels}.
 */
public final class CudaBackendProvider implements BackendProvider {
  private static CudaDevice device;
  private static final Map<BaseModel, Map<Precision, Shared>> MODELS = new IdentityHashMap<>();

  /** One uploaded base model and its holders. */
  private static final class Shared {
    final DeviceTransformer model;
    int references;

    Shared(DeviceTransformer model) {
      this.model = model;
    }
  }

  @Override
  public String id() {
    return "cuda";
  }

  /** This JVM's GPU, opened on first use. */
  static synchronized CudaDevice device() {
    if (device == null) {
      device = CudaDevice.open(Devices.ordinal());
    }
    return device;
  }

  @Override
  public void check() {
    device();
  }

  @Override
  public SharedBackend acquire(BaseModel base, BackendSpec spec) {
    Precision precision = spec.precision();
    Shared s;
    synchronized (CudaBackendProvider.class) {
      CudaDevice d = device();
      s = MODELS.computeIfAbsent(base, b -> new IdentityHashMap<>()).computeIfAbsent(precision,
          p -> new Shared(new DeviceTransformer(DeviceBackends.upload(d, base, p))));
      s.references++;
    }
    Shared held = s;
    return new SharedBackend() {
      private boolean closed;

      @Override
      public TrainingBackend open(BaseModel b, AdapterSet adapters, TrainConfig config) {
        float[] initial = adapters.flatParameters().castTo(DataType.FLOAT).dup().data().asFloat();
        return DeviceTrainer.open(held.model, adapters.config(), config, spec.recompute(), initial);
      }

      @Override
      public String describe() {
        return "cuda " + precision + (spec.recompute() ? ", recomputing activations" : "") + " on "
            + device().describe();
      }

      @Override
      public long deviceBytes() {
        return device().allocatedBytes();
      }

      @Override
      public void close() {
        synchronized (CudaBackendProvider.class) {
          if (closed) {
            return;
          }
          closed = true;
          if (--held.references == 0) {
            held.model.model().close();
            Map<Precision, Shared> byPrecision = MODELS.get(base);
            byPrecision.remove(precision);
            if (byPrecision.isEmpty()) {
              MODELS.remove(base);
            }
          }
        }
      }
    };
  }
}
