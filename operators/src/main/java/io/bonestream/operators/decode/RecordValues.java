package io.bonestream.operators.decode;

import io.bonestream.operators.KafkaInput;
import io.bonestream.schemas.AdapterIds;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import org.jspecify.annotations.Nullable;

/** A decoded record's adapter id, example id, user id, weight and event time, from where its input says. */
final class RecordValues {
  /** The most characters of an example id or a user id (control records' ids too). */
  static final int MAX_ID_CHARS = 256;
  private static final ValueSource DEFAULT_USER_ID = new ValueSource.Field("metadata.user_id");

  private final InputSpec spec;
  private final Decoded decoded;
  private final KafkaInput in;

  RecordValues(InputSpec spec, Decoded decoded, KafkaInput in) {
    this.spec = spec;
    this.decoded = decoded;
    this.in = in;
  }

  String adapterId() throws Rejected {
    Object v = value(spec.adapterId(), DeadLetterReason.INVALID_ADAPTER_ID);
    if (v == null) {
      throw new Rejected(DeadLetterReason.INVALID_ADAPTER_ID, "no adapter id (" + spec.adapterId() + " is absent)");
    }
    if (v instanceof Boolean || (v instanceof Number && !(v instanceof Integer || v instanceof Long
        || v instanceof BigInteger))) {
      // a JSON 1.5, 1e2 or true would become the adapter "1.5", "100.0" or "true" (1e999999: "Infinity")
      throw new Rejected(DeadLetterReason.INVALID_ADAPTER_ID, "adapter id " + Texts.abbreviate(v.toString())
          + " is neither text nor a whole number");
    }
    String id = v.toString();
    if (!AdapterIds.isValid(id)) {
      throw new Rejected(DeadLetterReason.INVALID_ADAPTER_ID, "adapter_id '" + Texts.abbreviate(id)
          + "' is not " + AdapterIds.RULE);
    }
    return id;
  }

  /** The example id; without one, where the record was read ({@code topic/partition/offset}). */
  String exampleId() throws Rejected {
    Object v = value(spec.exampleId(), DeadLetterReason.INVALID_EXAMPLE_ID);
    if (v == null) {
      return in.topic + "/" + in.partition + "/" + in.offset;
    }
    String id = v.toString();
    if (id.length() > MAX_ID_CHARS) {
      // a key or header is not under the value's size cap, and the id travels with the item to the trainer
      throw new Rejected(DeadLetterReason.INVALID_EXAMPLE_ID, "example id of " + id.length()
          + " characters, over the limit of " + MAX_ID_CHARS);
    }
    return id;
  }

  /**
   * The user the example belongs to (for erasure by user), or null when the record names none: text
   * or a whole number, 1 to {@value #MAX_ID_CHARS} characters.
   */
  @Nullable String userId() throws Rejected {
    ValueSource source = spec.userId() == null ? DEFAULT_USER_ID : spec.userId();
    Object v = value(source, DeadLetterReason.INVALID_USER_ID);
    if (v == null) {
      return null;
    }
    if (!(v instanceof String || v instanceof Integer || v instanceof Long || v instanceof BigInteger)) {
      // a JSON object, array, boolean or fraction would become a user id no erasure request names
      throw new Rejected(DeadLetterReason.INVALID_USER_ID, "user id " + Texts.abbreviate(v.toString())
          + " is neither text nor a whole number");
    }
    String id = v.toString();
    if (id.isEmpty()) {
      throw new Rejected(DeadLetterReason.INVALID_USER_ID, "an empty user id (" + source + ")");
    }
    if (id.length() > MAX_ID_CHARS) {
      throw new Rejected(DeadLetterReason.INVALID_USER_ID, "user id of " + id.length()
          + " characters, over the limit of " + MAX_ID_CHARS);
    }
    return id;
  }

  float weight() throws Rejected {
    Object v = value(spec.weight(), DeadLetterReason.INVALID_WEIGHT);
    if (v == null) {
      return 1f;
    }
    float w;
    if (v instanceof Number n) {
      w = n.floatValue();
    } else {
      try {
        w = Float.parseFloat(v.toString().trim());
      } catch (NumberFormatException e) {
        throw new Rejected(DeadLetterReason.INVALID_WEIGHT, "weight '" + Texts.abbreviate(v.toString())
            + "' is not a number");
      }
    }
    if (!(w > 0) || !Float.isFinite(w)) {
      throw new Rejected(DeadLetterReason.INVALID_WEIGHT, "weight must be a positive number, got " + w);
    }
    return w;
  }

  /** Event time in epoch milliseconds, {@link Long#MIN_VALUE} if the record has none. */
  long eventTime() throws Rejected {
    ValueSource source = spec.eventTime() == null ? new ValueSource.Field("event_time") : spec.eventTime();
    Object v = value(source, DeadLetterReason.INVALID_EVENT_TIME);
    if (v == null) {
      if (spec.eventTime() != null) {
        throw new Rejected(DeadLetterReason.INVALID_EVENT_TIME, "no event time (" + source + " is absent)");
      }
      return Long.MIN_VALUE;
    }
    if (v instanceof Instant t) {
      return t.toEpochMilli();
    }
    if (v instanceof Long || v instanceof Integer) {
      return ((Number) v).longValue();
    }
    if (v instanceof Number) {
      throw new Rejected(DeadLetterReason.INVALID_EVENT_TIME, "event time " + v
          + " is not a whole number of epoch milliseconds");
    }
    try {
      return Instant.parse(v.toString().trim()).toEpochMilli();
    } catch (DateTimeParseException e) {
      throw new Rejected(DeadLetterReason.INVALID_EVENT_TIME, "event time '" + Texts.abbreviate(v.toString())
          + "' is neither epoch milliseconds nor an ISO-8601 instant (2026-01-31T12:00:00Z)");
    }
  }

  private @Nullable Object value(ValueSource source, DeadLetterReason reason) throws Rejected {
    if (source instanceof ValueSource.Field f) {
      return decoded.fields().get(f.path());
    }
    if (source instanceof ValueSource.Key) {
      return in.key == null ? null : utf8(in.key, "the record key", reason);
    }
    if (source instanceof ValueSource.Header h) {
      byte[] b = in.header(h.name());
      return b == null ? null : utf8(b, "header " + h.name(), reason);
    }
    if (source instanceof ValueSource.Constant c) {
      return c.value();
    }
    return in.timestamp < 0 ? null : in.timestamp; // kafka-timestamp
  }

  private static String utf8(byte[] bytes, String what, DeadLetterReason reason) throws Rejected {
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new Rejected(reason, what + " is not UTF-8 text");
    }
  }
}
