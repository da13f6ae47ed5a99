package io.bonestream.subscriber;

/** What happened to one manifest: accepted as a new version, or refused with a reason. */
public sealed interface AdapterUpdate {
  String adapterId();

  long version();

  /** A new immutable version, now the latest of its adapter. */
  record Accepted(AdapterVersion adapter) implements AdapterUpdate {
    @Override
    public String adapterId() {
      return adapter.adapterId();
    }

    @Override
    public long version() {
      return adapter.version();
    }
  }

  /** A version that will not be served; the previous one keeps serving. */
  record Refused(String adapterId, long version, RefusalReason reason, String message) implements AdapterUpdate {}
}
