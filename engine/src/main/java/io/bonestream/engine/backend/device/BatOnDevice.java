package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import java.util.ArrayList;
import java.util.List;

/**
 * bat on a device: each projection multiplies by W' = W + ΔW, ΔW_{a,b} = (W_{a,b} + I) B_a, merged
 * for the pass ({@link BatScratch}); the weight gradient dB_a += Σ_b (W_{a,b} + I)ᵀ M_{a,b} with
 * M = Gᵀ x, on the side stream where there is one. The forward pass keeps every layer's normed
 * inputs (every weight gradient reads its input; bat's step runs short of time, not of memory).
 */
final class BatOnDevice implements MethodOnDevice {
  static final BatOnDevice INSTANCE = new BatOnDevice();

  private BatOnDevice() {}

  @Override
  public boolean keepsNormedInputs() {
    return true;
  }

  @Override
  public boolean mergesWeights() {
    return true;
  }

  @Override
  public BatScratch.Pass mergesFor(DeviceTransformer t, DeviceAdapters ad, Workspace w, boolean backward) {
    List<BatScratch.Merge> order = new ArrayList<>();
    int layers = t.c.numLayers();
    for (int i = 0; i < layers; i++) {
      int l = backward ? layers - 1 - i : i;
      for (Projection p : backward ? DeviceTransformer.BACKWARD_ORDER : DeviceTransformer.FORWARD_ORDER) {
        AdapterLayout.Site s = ad.site(l, p);
        if (s != null) {
          order.add(new BatScratch.Merge(l, p, t.m.layer(l).weight(p), DeviceAdapters.tensor(ad.values, s, 0),
              DeviceAdapters.tensor(ad.valuesAct, s, 0), AdapterLayout.outFeatures(t.c, p),
              AdapterLayout.inFeatures(t.c, p), ad.r));
        }
      }
    }
    return order.isEmpty() ? null : w.bat().pass(order);
  }

  @Override
  public void forward(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, int in, int out,
      Buf x, Buf sums, Buf y, int n) {
    // nothing beyond the GEMM by the merged weight
  }

  @Override
  public void backward(DeviceTransformer t, DeviceAdapters ad, Workspace w, int l, Projection p,
      AdapterLayout.Site s, Buf weight, int in, int out, Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n,
      DeviceTransformer.Tile tile) {
    // dx = G (W + ΔW); the weight gradient now, or, without x, by the caller later
    Buf merged = t.merges.take(l, p);
    t.d.gemm(false, false, n, in, out, 1f, grad, out, merged, in, beta, dIn, in);
    t.merges.release();
    if (x != null) {
      weightGradient(t, ad, w, s, weight, grad, x, in, out, n);
    }
  }

  /** dB += dL/dB of one projection: M = Gᵀ x (O, I), one GEMM; then one device operation reading W and M. */
  @Override
  public void weightGradient(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, Buf weight,
      Buf grad, Buf x, int in, int out, int n) {
    BatScratch bat = w.bat();
    Buf mg = bat.grad((long) out * in);
    t.d.gemm(true, false, out, in, n, 1f, grad, out, x, in, 0f, mg, in);
    bat.blockGrad(weight, DeviceAdapters.tensor(ad.grads, s, 0), out, in, ad.r);
  }

  @Override
  public void finishBackward(Workspace w) {
    w.bat().join(); // the dB computed on the side stream
  }
}
