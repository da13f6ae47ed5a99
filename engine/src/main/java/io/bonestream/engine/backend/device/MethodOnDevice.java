package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;

/**
 * One adapter method's math on a device: what {@link DeviceTransformer} calls at each projection
 * and around a pass, without knowing which method it is. Shapes as in DeviceTransformer: N rows,
 * I/O a projection's in/out features, r the adapters' width.
 */
interface MethodOnDevice {
  /** The one place a method's device math is chosen. */
  static MethodOnDevice of(AdapterMethod method) {
    return switch (method) {
      case BAT -> BatOnDevice.INSTANCE;
      case BONE -> BoneOnDevice.INSTANCE;
      case LORA -> LoraOnDevice.INSTANCE;
      case MINI -> MiniOnDevice.INSTANCE;
    };
  }

  /** Whether a training forward pass keeps every layer's normed inputs for the backward pass. */
  default boolean keepsNormedInputs() {
    return false;
  }

  /** Whether the backward pass needs a projection's input itself (else it keeps what it needs). */
  default boolean needsInputInBackward() {
    return true;
  }

  /**
   * Whether the projection multiplies by merged weights W + ΔW made for the pass ({@link #mergesFor});
   * its weight gradient may then wait for a later kernel ({@link #weightGradient}).
   */
  default boolean mergesWeights() {
    return false;
  }

  /** The merges of the pass in the order it multiplies by them, or null when the method merges nothing. */
  default BatScratch.Pass mergesFor(DeviceTransformer t, DeviceAdapters ad, Workspace w, boolean backward) {
    return null;
  }

  /** What the method keeps of an input shared by {@code group} in the forward pass (into {@code sums}). */
  default void inputSums(DeviceTransformer t, DeviceAdapters ad, Buf x, int in, Buf sums, int n, int l,
      Projection... group) {
  }

  /** y (N, O) += the adapter's term of projection site {@code s} on input x (N, I); the base GEMM is done. */
  void forward(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, int in, int out, Buf x,
      Buf sums, Buf y, int n);

  /**
   * dIn (N, I) = G (W + ΔW) + beta · dIn and the adapter's gradients; G (N, O) the output gradient,
   * x the forward input (null where the method's weight gradient waits for {@link #weightGradient}).
   */
  void backward(DeviceTransformer t, DeviceAdapters ad, Workspace w, int l, Projection p, AdapterLayout.Site s,
      Buf weight, int in, int out, Buf grad, Buf x, Buf sums, Buf dIn, float beta, int n, DeviceTransformer.Tile tile);

  /** The weight gradient of a site from its output gradient and input, when the backward pass left it for later. */
  default void weightGradient(DeviceTransformer t, DeviceAdapters ad, Workspace w, AdapterLayout.Site s, Buf weight,
      Buf grad, Buf x, int in, int out, int n) {
  }

  /** After the backward pass (work on a side stream joins here). */
  default void finishBackward(Workspace w) {
  }

}
