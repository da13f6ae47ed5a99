package io.bonestream.operators.decode;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.InvalidExampleException;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.operators.KafkaInput;
import java.io.IOException;
import org.jspecify.annotations.Nullable;

/** UTF-8 JSON objects of any record shape, read by the engine's one {@link RecordParser}. */
final class JsonDecoder implements RecordDecoder {
  private static final long serialVersionUID = 1L;

  private final RecordParser.Options options;

  JsonDecoder(RecordParser.Options options) {
    this.options = options;
  }

  @Override
  public Decoded decode(KafkaInput in) throws Rejected {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(in.value);
    } catch (JsonProcessingException e) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "not JSON: " + Texts.abbreviate(e.getOriginalMessage()));
    } catch (IOException | RuntimeException e) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "not JSON: " + e.getClass().getSimpleName());
    }
    if (node == null || node.isMissingNode()) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "an empty value is not a JSON object");
    }
    return read(node, options);
  }

  /** A JSON object (also a registry's Avro record, read as JSON) as {@code options} say. */
  static Decoded read(JsonNode node, RecordParser.Options options) throws Rejected {
    try {
      return new Decoded(RecordParser.read(node, options), path -> value(node, path));
    } catch (InvalidExampleException e) {
      throw new Rejected(DeadLetterReason.of(e.reason()), e.getMessage());
    } catch (BonestreamException e) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD, e.getMessage());
    }
  }

  private static @Nullable Object value(JsonNode node, String path) {
    JsonNode v = FieldNames.at(node, path);
    if (v == null) {
      return null;
    }
    if (v.isTextual()) {
      return v.asText();
    }
    if (v.isNumber()) {
      return v.numberValue();
    }
    return v.toString();
  }
}
