package io.bonestream.subscriber;

/** Thrown while loading a manifest that must not be served. */
public final class SnapshotRefusedException extends Exception {
  private final RefusalReason reason;

  public SnapshotRefusedException(RefusalReason reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  public RefusalReason reason() {
    return reason;
  }
}
