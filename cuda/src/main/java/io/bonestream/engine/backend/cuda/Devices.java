package io.bonestream.engine.backend.cuda;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.backend.device.JavaDevice;
import io.bonestream.engine.device.Device;

/**
 * Opens a device by backend name: {@code cuda} (GPU 0, or $BONESTREAM_CUDA_DEVICE), {@code cpu}
 * (the CPU device: the default {@code cpu} backend's engine, OpenBLAS GEMMs) or {@code java} (the
 * reference).
 */
public final class Devices {
  private Devices() {}

  public static Device open(String backend) {
    return switch (backend) {
      case "cuda" -> CudaDevice.open(ordinal());
      case "cpu" -> CpuDevice.get();
      case "java" -> new JavaDevice();
      default -> throw new BonestreamException("unknown device backend '" + backend + "' (known: cuda, cpu, java)");
    };
  }

  static int ordinal() {
    String v = System.getenv("BONESTREAM_CUDA_DEVICE");
    return v == null || v.isBlank() ? 0 : Integer.parseInt(v.trim());
  }
}
