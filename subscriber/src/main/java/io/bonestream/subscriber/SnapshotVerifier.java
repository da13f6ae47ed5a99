package io.bonestream.subscriber;

import io.bonestream.schemas.AdapterSnapshot;

/**
 * An extra check of every manifest and its payload before it is accepted, e.g. a signature over
 * the adapter bytes (the manifest's {@code signature} field). Throw to refuse.
 */
@FunctionalInterface
public interface SnapshotVerifier {
  void verify(AdapterSnapshot manifest, String adapterConfigJson, byte[] adapterWeights)
      throws SnapshotRefusedException;

  /** Accepts everything (no signatures yet). */
  SnapshotVerifier NONE = (m, c, w) -> { };
}
