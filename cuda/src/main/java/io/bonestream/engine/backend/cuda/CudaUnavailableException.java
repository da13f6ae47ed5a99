package io.bonestream.engine.backend.cuda;

import io.bonestream.core.BonestreamException;

/** The CUDA backend cannot start here: no GPU, no driver, or a CUDA library missing (named). */
public final class CudaUnavailableException extends BonestreamException {
  public CudaUnavailableException(String message) {
    super(message);
  }
}
