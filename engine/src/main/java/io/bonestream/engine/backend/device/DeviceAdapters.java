package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.adapters.AdapterMethods;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.MethodOnDevice;

/**
 * One adapter set on a device: the flat F32 trainable values and gradients (in
 * {@link AdapterLayout} order), their act-type copy that the GEMMs read (the same buffer in
 * {@code fp32}), and the optimizer's moments when it has them.
 */
final class DeviceAdapters implements AutoCloseable {
  final AdapterLayout layout;
  final AdapterConfig config;
  /** The method's math on a device. */
  final MethodOnDevice onDevice;
  final int r;
  final Buf values;
  final Buf grads;
  final Buf valuesAct;
  final Buf expAvg;
  final Buf expAvgSq;
  /** Whether values and gradients are the caller's (borrowed), not freed here. */
  final boolean borrowed;
  private final Device d;

  DeviceAdapters(Device d, ModelConfig c, DType act, AdapterConfig config, boolean moments) {
    this(d, c, act, config, moments, null, null);
  }

  /**
   * With {@code values} and {@code grads} given (F32, the layout's length), the adapter set trains
   * them in place (the CPU device over the host adapters' arrays) instead of allocating its own.
   */
  DeviceAdapters(Device d, ModelConfig c, DType act, AdapterConfig config, boolean moments, Buf values, Buf grads) {
    this.d = d;
    this.layout = AdapterLayout.of(c, config);
    this.config = config;
    this.onDevice = AdapterMethods.onDevice(config.method());
    this.r = config.r();
    long n = Math.max(1, layout.size());
    this.borrowed = values != null;
    if (borrowed && (values.size() != layout.size() || grads.size() != layout.size() || values.type() != DType.F32
        || grads.type() != DType.F32 || act != DType.F32)) {
      throw new IllegalArgumentException("borrowed adapter arrays must be F32[" + layout.size() + "] in fp32");
    }
    this.values = borrowed ? values : d.alloc(DType.F32, n);
    this.grads = borrowed ? grads : d.alloc(DType.F32, n);
    this.valuesAct = act == DType.F32 ? this.values : d.alloc(act, n);
    this.expAvg = moments ? d.alloc(DType.F32, n) : null;
    this.expAvgSq = moments ? d.alloc(DType.F32, n) : null;
  }

  /** The site of a projection, or null when it has no adapter. */
  AdapterLayout.Site site(int layer, Projection p) {
    return layout.site(layer, p);
  }

  /** Tensor {@code i} of a site (in the layout's order of the method's tensors) in {@code flat}. */
  static Buf tensor(Buf flat, AdapterLayout.Site s, int i) {
    AdapterLayout.Tensor t = s.tensors().get(i);
    return flat.slice(t.offset(), t.length());
  }

  /** Refreshes the act-type copy after the values changed. */
  void valuesChanged() {
    if (valuesAct != values) {
      d.copy(values, valuesAct);
    }
  }

  /** Device bytes this adapter set allocated: values and gradients (unless borrowed), act copy, moments. */
  long bytes() {
    long n = borrowed ? 0 : values.size() * 8L;
    if (valuesAct != values) {
      n += valuesAct.size() * valuesAct.type().bytes();
    }
    if (expAvg != null) {
      n += values.size() * 8L;
    }
    return n;
  }

  @Override
  public void close() {
    if (!borrowed) {
      d.free(values);
      d.free(grads);
    }
    if (valuesAct != values) {
      d.free(valuesAct);
    }
    if (expAvg != null) {
      d.free(expAvg);
      d.free(expAvgSq);
    }
  }
}
