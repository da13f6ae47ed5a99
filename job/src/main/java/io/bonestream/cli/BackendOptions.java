package io.bonestream.cli;

import io.bonestream.engine.backend.BackendSpec;
import picocli.CommandLine.Option;

/**
 * Where a training command's steps run: {@code --backend}, {@code --precision} and
 * {@code --recompute} (train, demo).
 */
final class BackendOptions {
  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|cuda",
      description = "where the steps run (default: ${DEFAULT-VALUE}); cuda: an NVIDIA GPU with the CUDA 13 "
          + "libraries, see docs/gpu.md")
  String backend;

  @Option(names = "--precision", defaultValue = "bf16", paramLabel = "bf16|fp32",
      description = "cuda only (default: ${DEFAULT-VALUE})")
  String precision;

  @Option(names = "--recompute", description = "recompute each layer's activations in the backward pass instead "
      + "of keeping them: the same results, less memory, one more forward pass per step (docs/gpu.md)")
  boolean recompute;

  /** The backend asked for; an unknown name or precision is one error naming the known ones. */
  BackendSpec spec() {
    return BackendSpec.parse(backend, precision).withRecompute(recompute);
  }
}
