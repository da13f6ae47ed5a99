package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.AdapterIds;
import java.nio.charset.StandardCharsets;
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
 * </pre>
 *
 * <p>Exactly one of {@code example_id} and {@code user_id}, each 1 to {@value #MAX_ID_CHARS}
 * characters; {@code retrain} optional (default false); any other field is refused. A valid record
 * becomes {@link TrainingItem#erasure}; anything else is an {@link DeadLetterReason#INVALID_CONTROL_RECORD}
 * dead letter.
 */
public final class ControlRecords {
  /** A control record's most bytes (a request is a few hundred). */
  public static final int MAX_RECORD_BYTES = 64 * 1024;
  /** The most characters of an example id or a user id (as for examples' own ids). */
  public static final int MAX_ID_CHARS = RecordValues.MAX_ID_CHARS;
  public static final String ERASE = "erase";

  private static final Set<String> FIELDS = Set.of("type", "adapter_id", "example_id", "user_id", "retrain");
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private ControlRecords() {}

  /** The erasure request {@code in} holds, with its Kafka coordinates. */
  public static TrainingItem decode(KafkaInput in) throws Rejected {
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
            + "example_id, user_id, retrain)");
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
    if (!AdapterIds.isValid(adapterId)) {
      throw invalid("adapter_id '" + Texts.abbreviate(adapterId) + "' is not " + AdapterIds.RULE);
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
    return TrainingItem.erasure(adapterId, exampleId, userId, retrain, in.topic, in.partition, in.offset);
  }

  /** The control record asking {@code adapterId} to forget an example or a user's examples (one of the two). */
  public static byte[] erase(String adapterId, @Nullable String exampleId, @Nullable String userId,
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
    return n.toString().getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Why {@link #erase} of these would be refused by the job, or null when it would not (for
   * clients, before they write).
   */
  public static @Nullable String problem(String adapterId, @Nullable String exampleId, @Nullable String userId) {
    if (!AdapterIds.isValid(adapterId)) {
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
