package io.bonestream.cli;

import io.bonestream.engine.backend.BackendSpec;
import picocli.CommandLine.Option;

/** Where a training command's steps run: {@code --backend} and {@code --precision} (train, demo). */
final class BackendOptions {
  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|cuda",
      description = "where the steps run (default: ${DEFAULT-VALUE}); cuda: an NVIDIA GPU with the CUDA 13 "
          + "libraries, see docs/gpu.md")
  String backend;

  @Option(names = "--precision", defaultValue = "bf16", paramLabel = "bf16|fp32",
      description = "cuda only (default: ${DEFAULT-VALUE})")
  String precision;

  /** The backend asked for; an unknown name or precision is one error naming the known ones. */
  BackendSpec spec() {
    return BackendSpec.parse(backend, precision);
  }
}
