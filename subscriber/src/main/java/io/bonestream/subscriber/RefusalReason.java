package io.bonestream.subscriber;

/** Why a subscriber refused an adapter version; the version before it keeps serving. */
public enum RefusalReason {
  /** The manifest bytes are not an AdapterSnapshot this library can read. */
  INVALID_MANIFEST,
  /** A claim check's blob does not match its SHA-256 or size. */
  TAMPERED,
  /** A claim check's blob could not be fetched. */
  MISSING_BLOB,
  /** The adapter was trained on another base model than the one loaded here. */
  BASE_MODEL_MISMATCH,
  /** The adapter holds NaN or infinite values. */
  NON_FINITE,
  /** The PEFT files do not describe an adapter for this model. */
  INVALID_ADAPTER,
  /** The verifier (e.g. a signature check) refused it. */
  VERIFICATION_FAILED,
  /** An older version than one already accepted. */
  OUT_OF_ORDER,
  /** The manifest carries no signature, and unsigned manifests are not allowed. */
  UNSIGNED,
  /** The signature does not match the manifest and its payload (changed, or forged). */
  BAD_SIGNATURE,
  /** Signed with a key that is not among the trusted public keys. */
  UNKNOWN_KEY
}
