package io.bonestream.operators.decode;

import io.bonestream.schemas.SigningKeys;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Which control records the job acts on. Without public keys (the default), every valid request:
 * the control topic's ACL decides who may write one. With them ({@code control.public-keys}), only
 * requests signed with one of their private keys ({@link ControlRecords#erase(String, String, String,
 * boolean, SigningKeys.Signer, Instant)}) and issued at most {@code maxAge} before the record's Kafka
 * timestamp (and at most {@link #CLOCK_SKEW} after it): a forged request is refused, and a copy of a
 * signed one written again later is refused once it is older than {@code maxAge} (where the topic
 * stamps records with the broker's time, {@code message.timestamp.type=LogAppendTime}; with
 * {@code CreateTime} its writer chooses the timestamp). Public keys travel as PEM text, parsed where
 * records are checked.
 */
public record ControlTrust(List<String> publicKeyPems, Duration maxAge) implements Serializable {
  /** How long a signed request stays good after it was issued, unless configured. */
  public static final Duration DEFAULT_MAX_AGE = Duration.ofDays(1);
  /** How far a request's issue time may lie after its record's timestamp (the writer's clock ahead). */
  public static final Duration CLOCK_SKEW = Duration.ofMinutes(5);
  /** No signature needed. */
  public static final ControlTrust ANY = new ControlTrust(List.of(), DEFAULT_MAX_AGE);

  public ControlTrust {
    publicKeyPems = List.copyOf(publicKeyPems);
    if (maxAge.isNegative() || maxAge.isZero()) {
      throw new IllegalArgumentException("a control request's max age is positive, not " + maxAge);
    }
    for (String pem : publicKeyPems) {
      SigningKeys.publicKey(pem, "a control public key"); // refused here unless it holds an Ed25519 key
    }
  }

  /** Whether requests must be signed. */
  public boolean requiresSignature() {
    return !publicKeyPems.isEmpty();
  }

  /** The checker of this trust (its keys parsed, by key id). */
  public Verifier verifier() {
    Map<String, PublicKey> keys = new LinkedHashMap<>();
    for (String pem : publicKeyPems) {
      PublicKey k = SigningKeys.publicKey(pem, "a control public key");
      keys.put(SigningKeys.keyId(k), k);
    }
    return new Verifier(Map.copyOf(keys), maxAge);
  }

  /** Checks a request's signature and age; not serializable (made in an operator's open). */
  public static final class Verifier {
    private final Map<String, PublicKey> keys;
    private final Duration maxAge;

    private Verifier(Map<String, PublicKey> keys, Duration maxAge) {
      this.keys = keys;
      this.maxAge = maxAge;
    }

    boolean requiresSignature() {
      return !keys.isEmpty();
    }

    /** The last record timestamp (epoch ms) at which a request issued at {@code issuedAt} is still acted on. */
    long expiresAt(Instant issuedAt) {
      return issuedAt.plus(maxAge).toEpochMilli();
    }

    /**
     * Refuses a request whose signature over {@code message} is missing, made with a key not
     * trusted, or wrong, or which was issued too long before (or after) {@code recordTimestamp}.
     */
    void check(byte[] message, @Nullable String keyId, @Nullable String signature, @Nullable Instant issuedAt,
        long recordTimestamp) throws Rejected {
      if (keyId == null || signature == null || issuedAt == null) {
        throw invalid("unsigned: this job acts only on control records signed with one of its control keys "
            + "(key_id, signature and issued_at; bonestream erase --signing-key)");
      }
      PublicKey key = keys.get(keyId);
      if (key == null) {
        throw invalid("signed with key " + Texts.abbreviate(keyId) + ", not one of this job's control keys");
      }
      byte[] sig;
      try {
        sig = Base64.getDecoder().decode(signature);
      } catch (IllegalArgumentException e) {
        throw invalid("signature is not base64");
      }
      boolean valid;
      try {
        Signature s = Signature.getInstance("Ed25519");
        s.initVerify(key);
        s.update(message);
        valid = s.verify(sig);
      } catch (GeneralSecurityException | RuntimeException e) {
        valid = false;
      }
      if (!valid) {
        throw invalid("its signature does not match the request (key " + keyId + ")");
      }
      if (recordTimestamp < 0) {
        throw invalid("a signed request in a record without a timestamp: its age cannot be checked");
      }
      Instant written = Instant.ofEpochMilli(recordTimestamp);
      if (issuedAt.isBefore(written.minus(maxAge))) {
        throw invalid("issued at " + issuedAt + ", more than " + maxAge + " before its record (" + written
            + "): too old to act on (a copy written again?)");
      }
      if (issuedAt.isAfter(written.plus(CLOCK_SKEW))) {
        throw invalid("issued at " + issuedAt + ", after its record was written (" + written + ")");
      }
    }

    private static Rejected invalid(String message) {
      return new Rejected(DeadLetterReason.INVALID_CONTROL_RECORD, message);
    }
  }

  /**
   * A signed request's id: the first 8 bytes of the SHA-256 of the bytes its signature covers (never
   * 0, which stands for unsigned). A copy of a request has its id; a request issued again, another.
   */
  static long requestId(byte[] message) {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256").digest(message);
      long id = ByteBuffer.wrap(h).getLong();
      return id == 0 ? 1 : id;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /**
   * The bytes a request's signature covers: {@code bonestream-control-v1}, a newline, then {@code
   * [type, adapter_id, example_id, user_id, retrain, issued_at]} as compact JSON in UTF-8 (no spaces,
   * null for the id not given; in strings only {@code "}, {@code \\} and control characters escaped,
   * {@code \\n} style where JSON has a short escape, else {@code \\u00xx} in lower case): what
   * Python's {@code json.dumps(fields, separators=(",", ":"), ensure_ascii=False)} writes, so a client
   * in any language can sign without this library.
   */
  static byte[] message(String type, String adapterId, @Nullable String exampleId, @Nullable String userId,
      boolean retrain, String issuedAt) {
    StringBuilder b = new StringBuilder("bonestream-control-v1\n[");
    for (String s : new String[] {type, adapterId, exampleId, userId}) {
      json(b, s).append(',');
    }
    b.append(retrain).append(',');
    json(b, issuedAt).append(']');
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static StringBuilder json(StringBuilder b, @Nullable String s) {
    if (s == null) {
      return b.append("null");
    }
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        case '\b' -> b.append("\\b");
        case '\f' -> b.append("\\f");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"');
  }
}
