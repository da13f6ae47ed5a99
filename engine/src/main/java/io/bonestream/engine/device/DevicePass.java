package io.bonestream.engine.device;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import java.util.List;
import java.util.function.Function;

/**
 * One forward or backward pass of the device decoder with an adapter set, as a method's device
 * math ({@link MethodOnDevice}) sees it: the device and the model, the adapters' buffers, and the
 * workspace's scratch. Shapes: N rows, r the adapters' width.
 */
public interface DevicePass {
  Device device();

  ModelConfig config();

  /** The type of the GEMM operands and activations (F32, or BF16). */
  DType actType();

  AdapterConfig adapterConfig();

  /** The adapter site of (layer, p), or null where the projection has none. */
  AdapterLayout.Site site(int layer, Projection p);

  /** The adapter sites in the order this pass multiplies by their projections. */
  List<AdapterLayout.Site> sitesInOrder();

  /** The frozen weight (O, I) act of a projection. */
  Buf weight(int layer, Projection p);

  /** Tensor i of a site's values, F32 (what the optimizer updates). */
  Buf values(AdapterLayout.Site s, int i);

  /** Tensor i of a site's values in act type (what the GEMMs read; the F32 buffer itself in fp32). */
  Buf valuesAct(AdapterLayout.Site s, int i);

  /** Tensor i of a site's gradient accumulator, F32. */
  Buf grads(AdapterLayout.Site s, int i);

  /** E (rows, cols) act, E[i, j] = 1 when i mod cols = j: stacked identities, made once per model. */
  Buf tileMatrix(int rows, int cols);

  /** Scratch {@code i} (0 or 1) of the workspace: (N, w) act, w the method's {@link MethodOnDevice#scratchWidth}. */
  Buf rowScratch(int i);

  /** Where the projections sharing an input sum their input-gradient term ({@link TileTerm}): (N, r) F32. */
  Buf tileGradient();

  /** This pass's merged weights ({@link MethodOnDevice#mergesFor}), or null. */
  MergedWeights merges();

  /**
   * The method's own scratch on the workspace: made by {@code make} on the first pass that asks for
   * {@code kind}, then the same object for every pass on that workspace. What {@code make} allocates
   * from the given memory is freed with the workspace.
   */
  <T> T scratch(Class<T> kind, Function<Memory, T> make);

  /** Allocations that live as long as the workspace. */
  @FunctionalInterface
  interface Memory {
    Buf alloc(DType type, long size);
  }
}
