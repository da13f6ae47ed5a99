package io.bonestream.engine.data;

import io.bonestream.core.BonestreamException;

/** A record that cannot become a training example, with a machine-readable reason. */
public final class InvalidExampleException extends BonestreamException {
  /** Why a record was refused; the streaming job dead-letters records under these codes. */
  public enum Reason {
    MALFORMED_JSON,
    MISSING_FIELD,
    EMPTY_RESPONSE,
    NO_TARGET_AFTER_TRUNCATION,
    UNKNOWN_ROLE,
    INVALID_TOKENS,
    TEMPLATE_ERROR,
    /** Content the job does not train on: tools, images, a message's name when refused. */
    UNSUPPORTED_CONTENT
  }

  private final Reason reason;

  public InvalidExampleException(Reason reason, String message) {
    super(message);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
