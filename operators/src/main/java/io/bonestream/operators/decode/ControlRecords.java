package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.operators.EveryAdapter;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.SigningKeys;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Signature;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Records of the control topic: requests to the job rather than examples, in strict JSON (read as
 * strictly as a json input's records: UTF-8, no duplicate keys, nothing after the object). Today one
 * kind, an erasure:
 *
 * <pre>
 * {"type": "erase", "adapter_id": "a", "example_id": "x"}
 * {"type": "erase", "adapter_id": "a", "user_id": "u", "retrain": true}
 * {"type": "erase", "adapter_id": "*", "user_id": "u"}
 * {"type": "erase", "adapter_id": "a", "user_id": "u", "issued_at": "2026-12-06T10:15:30Z",
 *  "key_id": "ed25519:…", "signature": "…"}
 * </pre>
 *
 * <p>{@code adapter_id} is an adapter's id, or {@value EveryAdapter#ID} for every adapter the job holds
 * ({@link EveryAdapter}). Exactly one of {@code example_id} and {@code user_id}, each 1 to {@value #MAX_ID_CHARS}
 * characters; {@code retrain} optional (default false); a signed request also has its issue time
 * (ISO-8601), its key's id and its Ed25519 signature (base64) over {@link ControlTrust#message}; any
 * other field is refused. Whether a signature is needed, and whose, is the job's {@link ControlTrust}.
 * A valid record becomes {@link TrainingItem#erasure}; anything else is an
 * {@link DeadLetterReason#INVALID_CONTROL_RECORD} dead letter.
 */
public final class ControlRecords {
  /** A control record's most bytes (a request is a few hundred). */
  public static final int MAX_RECORD_BYTES = 64 * 1024;
  /** The most characters of an example id or a user id (as for examples' own ids). */
  public static final int MAX_ID_CHARS = RecordValues.MAX_ID_CHARS;
  public static final String ERASE = "erase";

  private static final Set<String> FIELDS = Set.of("type", "adapter_id", "example_id", "user_id", "retrain",
      "issued_at", "key_id", "signature");
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final ControlTrust.Verifier UNSIGNED = ControlTrust.ANY.verifier();

  private ControlRecords() {}

  /** The erasure request {@code in} holds, with its Kafka coordinates; no signature needed. */
  public static TrainingItem decode(KafkaInput in) throws Rejected {
    return decode(in, UNSIGNED);
  }

  /** The erasure request {@code in} holds, signed as {@code trust} requires. */
  public static TrainingItem decode(KafkaInput in, ControlTrust.Verifier trust) throws Rejected {
    if (in.value == null || in.value.length == 0) {
      throw invalid("a control record without a value (a tombstone?)");
    }
    if (in.value.length > MAX_RECORD_BYTES) {
      throw invalid(in.value.length + " bytes, over the control record limit of " + MAX_RECORD_BYTES);
    }
    JsonNode node;
    try {
      node = JsonDecoder.parse(in.value);
    } catch (Rejected r) {
      throw invalid(r.getMessage());
    }
    if (!node.isObject()) {
      throw invalid("a control record is a JSON object, not " + node.getNodeType().name().toLowerCase());
    }
    for (Map.Entry<String, JsonNode> e : node.properties()) {
      if (!FIELDS.contains(e.getKey())) {
        throw invalid("unknown field '" + Texts.abbreviate(e.getKey()) + "' (known: type, adapter_id, "
            + "example_id, user_id, retrain, issued_at, key_id, signature)");
      }
    }
    String type = text(node, "type");
    if (type == null) {
      throw invalid("no type (\"type\": \"erase\")");
    }
    if (!type.equals(ERASE)) {
      throw invalid("unknown type '" + Texts.abbreviate(type) + "' (known: erase)");
    }
    String adapterId = text(node, "adapter_id");
    if (adapterId == null) {
      throw invalid("no adapter_id");
    }
    if (!adapterId.equals(EveryAdapter.ID) && !AdapterIds.isValid(adapterId)) {
      throw invalid("adapter_id '" + Texts.abbreviate(adapterId) + "' is not " + AdapterIds.RULE
          + ", nor " + EveryAdapter.ID + " (every adapter)");
    }
    String exampleId = id(node, "example_id");
    String userId = id(node, "user_id");
    if ((exampleId == null) == (userId == null)) {
      throw invalid(exampleId == null ? "an erasure names an example_id or a user_id"
          : "an erasure names an example_id or a user_id, not both");
    }
    boolean retrain = false;
    JsonNode r = node.get("retrain");
    if (r != null && !r.isNull()) {
      if (!r.isBoolean()) {
        throw invalid("retrain is true or false, not " + Texts.abbreviate(r.toString()));
      }
      retrain = r.booleanValue();
    }
    String issuedAt = text(node, "issued_at");
    Instant issued = null;
    if (issuedAt != null) {
      try {
        issued = Instant.parse(issuedAt);
      } catch (DateTimeParseException e) {
        throw invalid("issued_at is an ISO-8601 instant (2026-12-06T10:15:30Z), not " + Texts.abbreviate(issuedAt));
      }
    }
    String keyId = text(node, "key_id");
    String signature = text(node, "signature");
    TrainingItem item = TrainingItem.erasure(adapterId, exampleId, userId, retrain, in.topic, in.partition, in.offset);
    if (trust.requiresSignature()) {
      byte[] message = issuedAt == null ? new byte[0] : ControlTrust.message(type, adapterId, exampleId, userId,
          retrain, issuedAt);
      trust.check(message, keyId, signature, issued, in.timestamp);
      item.requestId = ControlTrust.requestId(message);
      item.requestIssuedAt = issued.toEpochMilli();
      item.requestExpiresAt = trust.expiresAt(issued);
    }
    return item;
  }

  /** The control record asking {@code adapterId} to forget an example or a user's examples (one of the two). */
  public static byte[] erase(String adapterId, @Nullable String exampleId, @Nullable String userId,
      boolean retrain) {
    return request(adapterId, exampleId, userId, retrain).toString().getBytes(StandardCharsets.UTF_8);
  }

  /** The same request issued at {@code issuedAt} and signed with {@code signer}'s private key. */
  public static byte[] erase(String adapterId, @Nullable String exampleId, @Nullable String userId,
      boolean retrain, SigningKeys.Signer signer, Instant issuedAt) {
    ObjectNode n = request(adapterId, exampleId, userId, retrain);
    String issued = issuedAt.toString();
    try {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(signer.privateKey());
      s.update(ControlTrust.message(ERASE, adapterId, exampleId, userId, retrain, issued));
      n.put("issued_at", issued);
      n.put("key_id", signer.keyId());
      n.put("signature", Base64.getEncoder().encodeToString(s.sign()));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot sign with " + signer, e);
    }
    return n.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static ObjectNode request(String adapterId, @Nullable String exampleId, @Nullable String userId,
      boolean retrain) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("type", ERASE);
    n.put("adapter_id", adapterId);
    if (exampleId != null) {
      n.put("example_id", exampleId);
    }
    if (userId != null) {
      n.put("user_id", userId);
    }
    if (retrain) {
      n.put("retrain", true);
    }
    return n;
  }

  /**
   * Why {@link #erase} of these would be refused by the job, or null when it would not (for
   * clients, before they write).
   */
  public static @Nullable String problem(String adapterId, @Nullable String exampleId, @Nullable String userId) {
    if (!adapterId.equals(EveryAdapter.ID) && !AdapterIds.isValid(adapterId)) {
      return "adapter id '" + Texts.abbreviate(adapterId) + "' is not " + AdapterIds.RULE;
    }
    if ((exampleId == null) == (userId == null)) {
      return "name an example id or a user id (one of the two)";
    }
    return exampleId != null ? idProblem("example id", exampleId) : idProblem("user id", userId);
  }

  /** Why an id of a request would be refused, or null. */
  private static @Nullable String idProblem(String what, String id) {
    if (id.isEmpty()) {
      return "an empty " + what;
    }
    if (id.length() > MAX_ID_CHARS) {
      return what + " of " + id.length() + " characters, over the limit of " + MAX_ID_CHARS;
    }
    return null;
  }

  private static @Nullable String text(JsonNode node, String field) throws Rejected {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual()) {
      throw invalid(field + " is text, not " + Texts.abbreviate(v.toString()));
    }
    return v.textValue();
  }

  private static @Nullable String id(JsonNode node, String field) throws Rejected {
    String id = text(node, field);
    String problem = id == null ? null : idProblem(field, id);
    if (problem != null) {
      throw invalid(problem);
    }
    return id;
  }

  private static Rejected invalid(String message) {
    return new Rejected(DeadLetterReason.INVALID_CONTROL_RECORD, message);
  }
}
