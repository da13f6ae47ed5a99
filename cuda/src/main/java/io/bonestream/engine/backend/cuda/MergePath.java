package io.bonestream.engine.backend.cuda;

/**
 * How a {@link CudaDevice} merges bat's W + ΔW in bf16, read from its {@code describe()} line: the
 * device checks its tensor-core merge against the two-pass one at start and falls back to the two
 * passes when they disagree. {@code selftest} and the tests turn that fallback into a failure;
 * the two passes on purpose ({@code BONESTREAM_CUDA_BAT_MMA=0}) or on a GPU before sm_80 are not one.
 *
 * <p>The phrases are CudaDevice's; {@code MergePathTest} checks they are still in its class file.
 */
public enum MergePath {
  /** The one-pass kernel on tensor cores, its start check passed. */
  TENSOR_CORES,
  /** Two passes because {@code BONESTREAM_CUDA_BAT_MMA=0} asked for them. */
  TWO_PASSES_ON_PURPOSE,
  /** Two passes because the GPU has no bf16 tensor-core kernel (before sm_80). */
  TWO_PASSES_OLD_GPU,
  /** Two passes because the tensor-core kernel failed its check at start: a failure. */
  FELL_BACK,
  /** The description says none of these (it changed, or the device is not a CudaDevice). */
  UNKNOWN;

  static final String ON = "bat merge on tensor cores";
  static final String OFF_ON_PURPOSE = "bat merge in two passes (BONESTREAM_CUDA_BAT_MMA=0)";
  static final String OLD_GPU = "bat merge in two passes (no bf16 tensor-core kernel before sm_80)";
  static final String TWO_PASSES = "bat merge in two passes (";

  /** The path a device's description names. */
  public static MergePath of(String description) {
    if (description.contains(ON)) {
      return TENSOR_CORES;
    }
    if (description.contains(OFF_ON_PURPOSE)) {
      return TWO_PASSES_ON_PURPOSE;
    }
    if (description.contains(OLD_GPU)) {
      return TWO_PASSES_OLD_GPU;
    }
    return description.contains(TWO_PASSES) ? FELL_BACK : UNKNOWN;
  }

  /** True unless the tensor-core merge was wanted and did not work (or the description cannot tell). */
  public boolean acceptable() {
    return this != FELL_BACK && this != UNKNOWN;
  }

  /** Why the fallback happened, as the description says (the part in parentheses), or the whole description. */
  public static String reason(String description) {
    int at = description.indexOf(TWO_PASSES);
    if (at < 0) {
      return description;
    }
    int from = at + TWO_PASSES.length();
    int depth = 1;
    for (int i = from; i < description.length(); i++) {
      char c = description.charAt(i);
      depth += c == '(' ? 1 : c == ')' ? -1 : 0;
      if (depth == 0) {
        return description.substring(from, i);
      }
    }
    return description.substring(from);
  }
}
