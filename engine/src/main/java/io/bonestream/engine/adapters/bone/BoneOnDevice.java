package io.bonestream.engine.adapters.bone;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DevicePass;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.device.TileTerm;

/**
 * bone on a device: y += S B with S (N, r) = x E the chunk sums of the input (shared by the
 * projections that read it, kept for the backward pass, so it needs neither x nor a recomputation)
 * and B (r, O).
 */
public final class BoneOnDevice implements MethodOnDevice {
  public static final BoneOnDevice INSTANCE = new BoneOnDevice();

  private BoneOnDevice() {}

  @Override
  public boolean needsInputInBackward() {
    return false;
  }

  @Override
  public void inputSums(DevicePass pass, Buf x, int in, Buf sums, int n, int l, Projection... group) {
    int r = pass.adapterConfig().r();
    for (Projection p : group) {
      if (pass.site(l, p) != null) {
        pass.device().gemm(false, false, n, r, in, 1f, x, in, pass.tileMatrix(in, r), r, 0f, sums, r);
        return;
      }
    }
  }

  @Override
  public void forward(DevicePass pass, AdapterLayout.Site s, int in, int out, Buf x, Buf sums, Buf y, int n) {
    int r = pass.adapterConfig().r();
    // y += S B, B (r, O)
    pass.device().gemm(false, false, n, out, r, 1f, sums, r, pass.valuesAct(s, 0), out, 1f, y, out);
  }

  @Override
  public void backward(DevicePass pass, int l, Projection p, AdapterLayout.Site s, Buf weight, int in, int out,
      Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n, TileTerm tile) {
    int r = pass.adapterConfig().r();
    // dB += Sᵀ G; dx = G W + tile(G Bᵀ), the tile term summed over the group in the workspace
    pass.device().gemm(true, false, r, out, n, 1f, sums, r, grad, out, 1f, pass.grads(s, 0), out);
    pass.device().gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    pass.device().gemm(false, true, n, r, out, 1f, grad, out, pass.valuesAct(s, 0), out,
        tile.beta(), pass.tileGradient(), r);
  }
}
