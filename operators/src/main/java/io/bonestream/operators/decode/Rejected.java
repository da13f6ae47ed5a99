package io.bonestream.operators.decode;

/** A record that cannot be trained on, with the reason it goes to the dead-letter topic. */
public final class Rejected extends Exception {
  private final DeadLetterReason reason;

  public Rejected(DeadLetterReason reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  public DeadLetterReason reason() {
    return reason;
  }
}
