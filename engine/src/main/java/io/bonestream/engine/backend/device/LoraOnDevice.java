package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;

/** LoRA on a device: y += s · (x Aᵀ) Bᵀ with A (r, I), B (O, r), s = alpha / r. */
final class LoraOnDevice implements MethodOnDevice {
  static final LoraOnDevice INSTANCE = new LoraOnDevice();

  private LoraOnDevice() {}

  @Override
  public void forward(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, int in, int out,
      Buf x, Buf sums, Buf y, int n) {
    int r = ad.r;
    t.d.gemm(false, true, n, r, in, 1f, x, in, DeviceAdapters.tensor(ad.valuesAct, s, 0), in, 0f, w.chunk, r);
    t.d.gemm(false, true, n, out, r, ad.loraScale, w.chunk, r, DeviceAdapters.tensor(ad.valuesAct, s, 1),
        r, 1f, y, out);
  }

  @Override
  public void backward(DeviceTransformer t, DeviceAdapters ad, Workspace w, int l, Projection p,
      AdapterLayout.Site s, Buf weight, int in, int out, Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n,
      DeviceTransformer.Tile tile) {
    int r = ad.r;
    // P = x Aᵀ; dB += s Gᵀ P; GB = G B; dA += s GBᵀ x; dx = G W + s GB A
    Buf a = DeviceAdapters.tensor(ad.valuesAct, s, 0);
    Buf bm = DeviceAdapters.tensor(ad.valuesAct, s, 1);
    t.d.gemm(false, true, n, r, in, 1f, x, in, a, in, 0f, w.chunk, r);
    t.d.gemm(true, false, out, r, n, ad.loraScale, grad, out, w.chunk, r, 1f,
        DeviceAdapters.tensor(ad.grads, s, 1), r);
    t.d.gemm(false, false, n, r, out, 1f, grad, out, bm, r, 0f, w.loraG, r);
    t.d.gemm(true, false, r, in, n, ad.loraScale, w.loraG, r, x, in, 1f,
        DeviceAdapters.tensor(ad.grads, s, 0), in);
    t.d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    t.d.gemm(false, false, n, in, r, ad.loraScale, w.loraG, r, a, in, 1f, dIn, in);
  }
}
