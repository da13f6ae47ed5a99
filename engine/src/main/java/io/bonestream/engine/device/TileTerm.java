package io.bonestream.engine.device;

/**
 * The input-gradient term tile(Σ dS) of the projections that share one input, for a method whose
 * input gradient has a part dS (N, r) repeated along the input's features (tile(dS)[n, i] =
 * dS[n, i mod r]): each projection's backward adds its dS into {@link DevicePass#tileGradient()},
 * and the kernel that reads the input gradient next adds the tiled sum. One per group of projections.
 */
public final class TileTerm {
  private boolean used;

  /** beta for the next dS GEMM into the buffer: 0 for the first, 1 after. */
  public float beta() {
    float b = used ? 1f : 0f;
    used = true;
    return b;
  }

  /** Whether a projection of the group wrote a term. */
  public boolean used() {
    return used;
  }
}
