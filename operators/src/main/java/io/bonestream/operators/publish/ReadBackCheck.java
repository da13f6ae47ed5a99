package io.bonestream.operators.publish;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.nio.charset.StandardCharsets;
import java.security.PublicKey;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What the training operator accepts of the manifests it reads back from the adapters topic when it
 * starts ({@link PublishedVersions}): anyone who can write to that topic must not be able to make
 * the job continue from weights it did not train, number versions past what can be counted, or
 * stop it. A manifest counts only when its record key is its {@code adapter_id}, its version is
 * plausible (1 to {@link #MAX_VERSION}), and, where the job signs, its signature verifies with the
 * job's own key or a configured trusted key. A job that runs unsigned cannot tell its own manifests
 * from anyone else's: there the topic's write access is the only control (docs/security.md).
 * Whether the payload decodes and fits the base model is checked when the operator continues from
 * it ({@link Refusal#UNUSABLE_PAYLOAD}).
 */
public final class ReadBackCheck {
  /** Versions above this are refused: far beyond any real run, far below where a long wraps. */
  static final long MAX_VERSION = 1_000_000_000_000L;

  /** Why a manifest read back is not used. */
  public enum Refusal {
    /** Not a manifest this job can decode. */
    UNDECODABLE,
    /** Its record key is not its adapter id (a manifest of one adapter re-keyed as another). */
    KEY_MISMATCH,
    /** A version below 1 or above {@link #MAX_VERSION}. */
    IMPLAUSIBLE_VERSION,
    /** Unsigned, while the job signs. */
    UNSIGNED,
    /** Signed with a key the job does not trust. */
    UNKNOWN_KEY,
    /** A signature that does not verify: the manifest or its payload was changed. */
    BAD_SIGNATURE,
    /** Its adapter does not decode or does not fit the base model (found when continuing from it). */
    UNUSABLE_PAYLOAD
  }

  /** Trusted keys by key id; null when the job runs unsigned. */
  private final @Nullable Map<String, PublicKey> trusted;

  private ReadBackCheck(@Nullable Map<String, PublicKey> trusted) {
    this.trusted = trusted;
  }

  /**
   * The check of a job that signs with {@code signer} (null: unsigned) and also trusts the public
   * keys in {@code trustedPems} (PEM text, as {@code bonestream keygen} writes {@code .pub} files).
   */
  public static ReadBackCheck of(SigningKeys.@Nullable Signer signer, List<String> trustedPems) {
    if (signer == null) {
      return new ReadBackCheck(null);
    }
    Map<String, PublicKey> keys = new HashMap<>();
    keys.put(signer.keyId(), signer.publicKey());
    for (String pem : trustedPems) {
      PublicKey k = SigningKeys.publicKey(pem, "a trusted public key");
      keys.put(SigningKeys.keyId(k), k);
    }
    return new ReadBackCheck(Map.copyOf(keys));
  }

  /** Why the manifest {@code m}, read as {@code value} under {@code key}, is refused; null when it is accepted. */
  @Nullable Refusal refusal(byte @Nullable [] key, byte[] value, AdapterSnapshot m) {
    if (key == null || !new String(key, StandardCharsets.UTF_8).equals(m.getAdapterId())) {
      return Refusal.KEY_MISMATCH;
    }
    if (m.getVersion() < 1 || m.getVersion() > MAX_VERSION) {
      return Refusal.IMPLAUSIBLE_VERSION;
    }
    if (trusted == null) {
      return null;
    }
    return switch (ManifestSignatures.verify(value, trusted).verdict()) {
      case VALID -> null;
      case UNSIGNED -> Refusal.UNSIGNED;
      case UNKNOWN_KEY -> Refusal.UNKNOWN_KEY;
      case BAD_SIGNATURE -> Refusal.BAD_SIGNATURE;
      case INVALID -> Refusal.UNDECODABLE;
    };
  }
}
