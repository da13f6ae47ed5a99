package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;

/**
 * MiSS mini on a device: bone's update y += S B with B = B_mini Eᵀ, B_mini (r, m) and E (O, m) the
 * stacked identities (B_mini repeated O / m times along the outputs), never formed: y += (S B_mini)
 * Eᵀ, dB_mini += Sᵀ (G E), dS = (G E) B_miniᵀ. S (N, r) are bone's chunk sums of the input.
 */
final class MiniOnDevice implements MethodOnDevice {
  static final MiniOnDevice INSTANCE = new MiniOnDevice();

  private MiniOnDevice() {}

  @Override
  public boolean needsInputInBackward() {
    return false; // it keeps the chunk sums, as bone
  }

  @Override
  public void inputSums(DeviceTransformer t, DeviceAdapters ad, Buf x, int in, Buf sums, int n, int l,
      Projection... group) {
    BoneOnDevice.INSTANCE.inputSums(t, ad, x, in, sums, n, l, group);
  }

  @Override
  public void forward(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, int in, int out,
      Buf x, Buf sums, Buf y, int n) {
    int r = ad.r;
    int m = ad.miniR;
    // T = S B_mini (N, m); y += T Eᵀ
    t.d.gemm(false, false, n, m, r, 1f, sums, r, DeviceAdapters.tensor(ad.valuesAct, s, 0), m, 0f, w.chunk, m);
    t.d.gemm(false, true, n, out, m, 1f, w.chunk, m, t.m.tileMatrix(out, m), m, 1f, y, out);
  }

  @Override
  public void backward(DeviceTransformer t, DeviceAdapters ad, Workspace w, int l, Projection p,
      AdapterLayout.Site s, Buf weight, int in, int out, Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n,
      DeviceTransformer.Tile tile) {
    int r = ad.r;
    int m = ad.miniR;
    // T = G E (N, m); dB_mini += Sᵀ T; dx = G W + tile(T B_miniᵀ), the tile term summed over the group
    t.d.gemm(false, false, n, m, out, 1f, grad, out, t.m.tileMatrix(out, m), m, 0f, w.chunk, m);
    t.d.gemm(true, false, r, m, n, 1f, sums, r, w.chunk, m, 1f, DeviceAdapters.tensor(ad.grads, s, 0), m);
    t.d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    t.d.gemm(false, true, n, r, m, 1f, w.chunk, m, DeviceAdapters.tensor(ad.valuesAct, s, 0), m,
        tile.beta(), w.dChunk, r);
  }
}
