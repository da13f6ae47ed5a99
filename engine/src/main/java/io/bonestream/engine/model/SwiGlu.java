package io.bonestream.engine.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/** The SwiGLU gate of the MLP: {@code a = silu(g) · u}, {@code silu(g) = g · σ(g)}. */
public final class SwiGlu {
  private SwiGlu() {}

  /** g, u (N, F) → a (N, F). */
  public static INDArray forward(INDArray g, INDArray u) {
    return Transforms.sigmoid(g, true).muli(g).muli(u);
  }

  /** Gradients of {@link #forward}: {@code du = da·silu(g)}, {@code dg = da·u·σ(g)·(1 + g·(1 − σ(g)))}. */
  public record Grads(INDArray dg, INDArray du) {}

  public static Grads backward(INDArray g, INDArray u, INDArray da) {
    INDArray sig = Transforms.sigmoid(g, true);
    INDArray du = sig.mul(g).muli(da);
    // σ(g)·(1 + g·(1 − σ(g))) = σ(g) + g·σ(g) − g·σ(g)²
    INDArray gs = g.mul(sig);
    INDArray dsilu = sig.add(gs).subi(gs.muli(sig));
    INDArray dg = dsilu.muli(u).muli(da);
    return new Grads(dg, du);
  }
}
