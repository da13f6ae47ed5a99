package io.bonestream.subscriber;

/** Receives every accepted and refused version, in order, on the subscriber's thread. */
@FunctionalInterface
public interface AdapterListener {
  void onUpdate(AdapterUpdate update);
}
