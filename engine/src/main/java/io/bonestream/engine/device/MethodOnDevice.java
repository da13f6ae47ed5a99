package io.bonestream.engine.device;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.Projection;

/**
 * One adapter method's math on a device: what the device decoder ({@code backend.device.DeviceTransformer})
 * calls at each projection and around a pass, without knowing which method it is. Each method has
 * one, in its folder beside its reference class ({@code adapters/<method>/}); the adapters' registry
 * ({@code adapters.AdapterMethods}) picks it. Shapes: N rows, I/O a projection's in/out features,
 * r the adapters' width.
 */
public interface MethodOnDevice {
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

  /** The width of the workspace's adapter scratch ({@link DevicePass#rowScratch}) the method needs. */
  default int scratchWidth(AdapterConfig config) {
    return config.r();
  }

  /** The merged weights of the pass in the order it multiplies by them, or null when the method merges none. */
  default MergedWeights mergesFor(DevicePass pass) {
    return null;
  }

  /** What the method keeps of an input shared by {@code group} of layer l in the forward pass (into {@code sums}). */
  default void inputSums(DevicePass pass, Buf x, int in, Buf sums, int n, int l, Projection... group) {
  }

  /** y (N, O) += the adapter's term of projection site {@code s} on input x (N, I); the base GEMM is done. */
  void forward(DevicePass pass, AdapterLayout.Site s, int in, int out, Buf x, Buf sums, Buf y, int n);

  /**
   * dIn (N, I) = G (W + ΔW) + beta · dIn and the adapter's gradients; G (N, O) the output gradient,
   * x the forward input (null where the method's weight gradient waits for {@link #weightGradient}),
   * {@code tile} the input-gradient term of the projections sharing the input.
   */
  void backward(DevicePass pass, int l, Projection p, AdapterLayout.Site s, Buf weight, int in, int out, Buf grad,
      Buf x, Buf sums, Buf dIn, float beta, int n, TileTerm tile);

  /** The weight gradient of a site from its output gradient and input, when the backward pass left it for later. */
  default void weightGradient(DevicePass pass, AdapterLayout.Site s, Buf weight, Buf grad, Buf x, int in, int out,
      int n) {
  }

  /** After the backward pass (work on a side stream joins here). */
  default void finishBackward(DevicePass pass) {
  }
}
