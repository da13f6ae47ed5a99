package io.bonestream.engine.adapters.mini;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.adapters.bone.BoneOnDevice;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.DevicePass;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.device.TileTerm;

/**
 * MiSS mini on a device: bone's update y += S B with B = B_mini Eᵀ, B_mini (r, m) and E (O, m) the
 * stacked identities (B_mini repeated O / m times along the outputs), never formed: y += (S B_mini)
 * Eᵀ, dB_mini += Sᵀ (G E), dS = (G E) B_miniᵀ. S (N, r) are bone's chunk sums of the input.
 */
public final class MiniOnDevice implements MethodOnDevice {
  public static final MiniOnDevice INSTANCE = new MiniOnDevice();

  private MiniOnDevice() {}

  @Override
  public boolean needsInputInBackward() {
    return false; // it keeps the chunk sums, as bone
  }

  /** Its scratch holds S B_mini and G E (N, m) as well as bone's (N, r). */
  @Override
  public int scratchWidth(AdapterConfig config) {
    return Math.max(config.r(), config.miniR());
  }

  @Override
  public void inputSums(DevicePass pass, Buf x, int in, Buf sums, int n, int l, Projection... group) {
    BoneOnDevice.INSTANCE.inputSums(pass, x, in, sums, n, l, group);
  }

  @Override
  public void forward(DevicePass pass, AdapterLayout.Site s, int in, int out, Buf x, Buf sums, Buf y, int n) {
    Device d = pass.device();
    int r = pass.adapterConfig().r();
    int m = pass.adapterConfig().miniR();
    Buf t = pass.rowScratch(0);
    // T = S B_mini (N, m); y += T Eᵀ
    d.gemm(false, false, n, m, r, 1f, sums, r, pass.valuesAct(s, 0), m, 0f, t, m);
    d.gemm(false, true, n, out, m, 1f, t, m, pass.tileMatrix(out, m), m, 1f, y, out);
  }

  @Override
  public void backward(DevicePass pass, int l, Projection p, AdapterLayout.Site s, Buf weight, int in, int out,
      Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n, TileTerm tile) {
    Device d = pass.device();
    int r = pass.adapterConfig().r();
    int m = pass.adapterConfig().miniR();
    Buf t = pass.rowScratch(0);
    // T = G E (N, m); dB_mini += Sᵀ T; dx = G W + tile(T B_miniᵀ), the tile term summed over the group
    d.gemm(false, false, n, m, out, 1f, grad, out, pass.tileMatrix(out, m), m, 0f, t, m);
    d.gemm(true, false, r, m, n, 1f, sums, r, t, m, 1f, pass.grads(s, 0), m);
    d.gemm(false, false, n, in, out, 1f, grad, out, weight, in, beta, dIn, in);
    d.gemm(false, true, n, r, m, 1f, t, m, pass.valuesAct(s, 0), m, tile.beta(), pass.tileGradient(), r);
  }
}
