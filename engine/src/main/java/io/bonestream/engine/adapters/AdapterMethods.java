package io.bonestream.engine.adapters;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.bat.BatAdapter;
import io.bonestream.engine.adapters.bat.BatOnDevice;
import io.bonestream.engine.adapters.bone.BoneAdapter;
import io.bonestream.engine.adapters.bone.BoneOnDevice;
import io.bonestream.engine.adapters.lora.LoraAdapter;
import io.bonestream.engine.adapters.lora.LoraOnDevice;
import io.bonestream.engine.adapters.mini.MiniAdapter;
import io.bonestream.engine.adapters.mini.MiniOnDevice;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.model.Linear;

/**
 * The one place an adapter method is registered: what makes its reference adapter (ND4J) and its
 * math on a device, both in its folder {@code adapters/<method>/}. The ND4J engine and the device
 * engine ask here, never which method they train.
 */
public final class AdapterMethods {
  private AdapterMethods() {}

  /** Makes a method's reference adapter of one projection; {@code store} hands out its slices in layout order. */
  @FunctionalInterface
  interface Reference {
    Adapter create(Linear base, AdapterConfig config, String path, Rng rng, ParameterStore store);
  }

  private record Method(Reference reference, MethodOnDevice onDevice) { }

  private static Method method(AdapterMethod method) {
    return switch (method) { // one entry per method
      case BAT -> new Method((base, c, path, rng, store) -> new BatAdapter(base, c.r(), path, store),
          BatOnDevice.INSTANCE);
      case BONE -> new Method((base, c, path, rng, store) -> new BoneAdapter(base, c.r(), store),
          BoneOnDevice.INSTANCE);
      case LORA -> new Method((base, c, path, rng, store) -> new LoraAdapter(base, c.r(), c.loraAlpha(), rng, store),
          LoraOnDevice.INSTANCE);
      case MINI -> new Method((base, c, path, rng, store) -> new MiniAdapter(base, c.r(), c.miniR(), store),
          MiniOnDevice.INSTANCE);
    };
  }

  /** The reference adapter of {@code config}'s method on projection {@code base} (module path {@code path}). */
  static Adapter create(Linear base, AdapterConfig config, String path, Rng rng, ParameterStore store) {
    return method(config.method()).reference().create(base, config, path, rng, store);
  }

  /** The method's math on a device. */
  public static MethodOnDevice onDevice(AdapterMethod method) {
    return method(method).onDevice();
  }
}
