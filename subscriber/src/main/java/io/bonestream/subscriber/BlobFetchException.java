package io.bonestream.subscriber;

import java.io.IOException;

/**
 * A blob that could not be fetched, with a message complete for an operator (what the store
 * answered, e.g. {@code HTTP 403 SignatureDoesNotMatch}); the subscriber refuses its version as
 * {@link RefusalReason#MISSING_BLOB} with this message.
 */
public class BlobFetchException extends IOException {
  private static final long serialVersionUID = 1L;

  public BlobFetchException(String message) {
    super(message);
  }

  public BlobFetchException(String message, Throwable cause) {
    super(message, cause);
  }
}
