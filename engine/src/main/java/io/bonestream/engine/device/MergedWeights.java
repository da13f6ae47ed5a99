package io.bonestream.engine.device;

import io.bonestream.core.model.Projection;

/**
 * The merged weights W + ΔW of one pass, for a method that multiplies by them
 * ({@link MethodOnDevice#mergesWeights}): taken in the order the pass multiplies by them.
 */
public interface MergedWeights {
  /** The merged weight (O, I) act of (layer, p), the pass's next one; later calls see it complete. */
  Buf take(int layer, Projection p);

  /** The GEMMs reading the weight {@link #take} gave are issued: its memory may be reused. */
  void release();
}
