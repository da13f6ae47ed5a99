package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;

/**
 * bone on a device: y += S B with S (N, r) = x E the chunk sums of the input (shared by the
 * projections that read it, kept for the backward pass, so it needs neither x nor a recomputation)
 * and B (r, O).
 */
final class BoneOnDevice implements MethodOnDevice {
  static final BoneOnDevice INSTANCE = new BoneOnDevice();

  private BoneOnDevice() {}

  @Override
  public boolean needsInputInBackward() {
    return false;
  }

  @Override
  public void inputSums(DeviceTransformer t, DeviceAdapters ad, Buf x, int in, Buf sums, int n, int l,
      Projection... group) {
    for (Projection p : group) {
      if (ad.site(l, p) != null) {
        t.d.gemm(false, false, n, ad.r, in, 1f, x, in, t.m.tileMatrix(in, ad.r), ad.r, 0f, sums, ad.r);
        return;
      }
    }
  }

  @Override
  public void forward(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, int in, int out,
      Buf x, Buf sums, Buf y, int n) {
    int r = ad.r;
    // y += S B, B (r, O)
    t.d.gemm(false, false, n, out, r, 1f, sums, r, DeviceAdapters.tensor(ad.valuesAct, s, 0), out, 1f, y, out);
  }

  @Override
  public void backward(DeviceTransformer t, DeviceAdapters ad, Workspace w, int l, Projection p,
      AdapterLayout.Site s, Buf weight, int in, int out, Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n,
      DeviceTransformer.Tile tile) {
    int r = ad.r;
    // dB += Sᵀ G; dx = G W + tile(G Bᵀ), the tile term summed over the group in the workspace
    t.d.gemm(true, false, r, out, n, 1f, sums, r, grad, out, 1f, DeviceAdapters.tensor(ad.grads, s, 0), out);
    t.d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    t.d.gemm(false, true, n, r, out, 1f, grad, out, DeviceAdapters.tensor(ad.valuesAct, s, 0), out,
        tile.beta(), w.dChunk, r);
  }
}
