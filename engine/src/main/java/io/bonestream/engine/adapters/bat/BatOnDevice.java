package io.bonestream.engine.adapters.bat;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DevicePass;
import io.bonestream.engine.device.MergedWeights;
import io.bonestream.engine.device.MethodOnDevice;
import io.bonestream.engine.device.TileTerm;
import java.util.ArrayList;
import java.util.List;

/**
 * bat on a device: each projection multiplies by W' = W + ΔW, ΔW_{a,b} = (W_{a,b} + I) B_a, merged
 * for the pass ({@link BatScratch}); the weight gradient dB_a += Σ_b (W_{a,b} + I)ᵀ M_{a,b} with
 * M = Gᵀ x, on the side stream where there is one. The forward pass keeps every layer's normed
 * inputs (every weight gradient reads its input; bat's step runs short of time, not of memory).
 */
public final class BatOnDevice implements MethodOnDevice {
  public static final BatOnDevice INSTANCE = new BatOnDevice();

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
  public MergedWeights mergesFor(DevicePass pass) {
    ModelConfig c = pass.config();
    List<BatScratch.Merge> order = new ArrayList<>();
    for (AdapterLayout.Site s : pass.sitesInOrder()) {
      Projection p = s.projection();
      order.add(new BatScratch.Merge(s.layer(), p, pass.weight(s.layer(), p), pass.values(s, 0),
          pass.valuesAct(s, 0), AdapterLayout.outFeatures(c, p), AdapterLayout.inFeatures(c, p),
          pass.adapterConfig().r()));
    }
    return order.isEmpty() ? null : scratch(pass).pass(order);
  }

  @Override
  public void forward(DevicePass pass, AdapterLayout.Site s, int in, int out, Buf x, Buf sums, Buf y, int n) {
    // nothing beyond the GEMM by the merged weight
  }

  @Override
  public void backward(DevicePass pass, int l, Projection p, AdapterLayout.Site s, Buf weight, int in, int out,
      Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n, TileTerm tile) {
    // dx = G (W + ΔW); the weight gradient now, or, without x, by the caller later
    Buf merged = pass.merges().take(l, p);
    pass.device().gemm(false, false, n, in, out, 1f, grad, out, merged, in, beta, dIn, in);
    pass.merges().release();
    if (x != null) {
      weightGradient(pass, s, weight, grad, x, in, out, n);
    }
  }

  /** dB += dL/dB of one projection: M = Gᵀ x (O, I), one GEMM; then one device operation reading W and M. */
  @Override
  public void weightGradient(DevicePass pass, AdapterLayout.Site s, Buf weight, Buf grad, Buf x, int in, int out,
      int n) {
    BatScratch bat = scratch(pass);
    Buf mg = bat.grad((long) out * in);
    pass.device().gemm(true, false, out, in, n, 1f, grad, out, x, in, 0f, mg, in);
    bat.blockGrad(weight, pass.grads(s, 0), out, in, pass.adapterConfig().r());
  }

  @Override
  public void finishBackward(DevicePass pass) {
    scratch(pass).join(); // the dB computed on the side stream
  }

  /** bat's scratch on the pass's workspace, made on first use: merged weights and M, (O, I) act each. */
  private static BatScratch scratch(DevicePass pass) {
    return pass.scratch(BatScratch.class, memory -> {
      long size = largestProjection(pass.config());
      return new BatScratch(pass.device(), () -> memory.alloc(pass.actType(), size));
    });
  }

  private static long largestProjection(ModelConfig c) {
    long max = 0;
    for (Projection p : Projection.values()) {
      max = Math.max(max, (long) AdapterLayout.inFeatures(c, p) * AdapterLayout.outFeatures(c, p));
    }
    return max;
  }
}
