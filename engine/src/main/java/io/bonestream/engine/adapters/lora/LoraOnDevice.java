package io.bonestream.engine.adapters.lora;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.DevicePass;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.device.TileTerm;

/** LoRA on a device: y += s · (x Aᵀ) Bᵀ with A (r, I), B (O, r), s = alpha / r. */
public final class LoraOnDevice implements MethodOnDevice {
  public static final LoraOnDevice INSTANCE = new LoraOnDevice();

  private LoraOnDevice() {}

  private static float scale(AdapterConfig c) {
    return (float) (c.loraAlpha() / c.r());
  }

  @Override
  public void forward(DevicePass pass, AdapterLayout.Site s, int in, int out, Buf x, Buf sums, Buf y, int n) {
    Device d = pass.device();
    int r = pass.adapterConfig().r();
    Buf p = pass.rowScratch(0);
    d.gemm(false, true, n, r, in, 1f, x, in, pass.valuesAct(s, 0), in, 0f, p, r);
    d.gemm(false, true, n, out, r, scale(pass.adapterConfig()), p, r, pass.valuesAct(s, 1), r, 1f, y, out);
  }

  @Override
  public void backward(DevicePass pass, int l, Projection p, AdapterLayout.Site s, Buf weight, int in, int out,
      Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n, TileTerm tile) {
    Device d = pass.device();
    int r = pass.adapterConfig().r();
    float scale = scale(pass.adapterConfig());
    // P = x Aᵀ; dB += s Gᵀ P; GB = G B; dA += s GBᵀ x; dx = G W + s GB A
    Buf a = pass.valuesAct(s, 0);
    Buf bm = pass.valuesAct(s, 1);
    Buf xa = pass.rowScratch(0);
    Buf gb = pass.rowScratch(1);
    d.gemm(false, true, n, r, in, 1f, x, in, a, in, 0f, xa, r);
    d.gemm(true, false, out, r, n, scale, grad, out, xa, r, 1f, pass.grads(s, 1), r);
    d.gemm(false, false, n, r, out, 1f, grad, out, bm, r, 0f, gb, r);
    d.gemm(true, false, r, in, n, scale, gb, r, x, in, 1f, pass.grads(s, 0), in);
    d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    d.gemm(false, false, n, in, r, scale, gb, r, a, in, 1f, dIn, in);
  }
}
