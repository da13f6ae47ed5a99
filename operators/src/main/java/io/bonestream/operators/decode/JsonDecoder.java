package io.bonestream.operators.decode;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.InvalidExampleException;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.operators.KafkaInput;
import java.io.IOException;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * UTF-8 JSON objects of any record shape, read by the engine's one {@link RecordParser}.
 *
 * <p>Records come from anyone who can write to the topic, so they are read strictly, by a reader
 * of their own (not the engine's {@code Json.MAPPER}): well-formed UTF-8 only (no UTF-16 or UTF-32,
 * no overlong forms or encoded surrogates), no escape of a lone surrogate (U+D800 to U+DFFF written alone
 * as a JSON escape is not text), no duplicate keys (which of two adapter ids would count?), nothing after the object,
 * nesting at most {@link #MAX_DEPTH} deep and numbers at most {@link #MAX_NUMBER_CHARS} characters
 * long. All of that costs one pass over the bytes; any of it is a {@code NOT_JSON} dead letter.
 */
final class JsonDecoder implements RecordDecoder {
  private static final long serialVersionUID = 1L;

  /** Arrays and objects nested deeper than this are refused (a chat record nests 4 deep). */
  static final int MAX_DEPTH = 100;
  /** Numbers longer than this are refused (token ids, weights and timestamps need under 30). */
  static final int MAX_NUMBER_CHARS = 100;

  private static final ObjectReader READER = new ObjectMapper(JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH)
          .maxNumberLength(MAX_NUMBER_CHARS).build())
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .build())
      .reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final RecordParser.Options options;

  JsonDecoder(RecordParser.Options options) {
    this.options = options;
  }

  @Override
  public Decoded decode(KafkaInput in) throws Rejected {
    return read(parse(in.value), options);
  }

  /** The JSON object in {@code value}, read strictly (UTF-8, bounded, no duplicate keys, nothing after it). */
  static JsonNode parse(byte[] value) throws Rejected {
    boolean escapes = checkUtf8(value);
    JsonNode node;
    try {
      node = READER.readTree(value);
    } catch (JsonProcessingException e) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "not JSON: " + Texts.abbreviate(e.getOriginalMessage()));
    } catch (IOException | RuntimeException e) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "not JSON: " + e.getClass().getSimpleName());
    }
    if (node == null || node.isMissingNode()) {
      throw new Rejected(DeadLetterReason.NOT_JSON, "an empty value is not a JSON object");
    }
    if (escapes && hasLoneSurrogate(node)) {
      throw new Rejected(DeadLetterReason.NOT_JSON,
          "a string with a lone surrogate escape (\\ud800-\\udfff) is not text");
    }
    return node;
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
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    return new Composite(v.toString());
  }

  /** An object or array where a value was looked for: its JSON text (so that a user id can tell it from text). */
  record Composite(String json) {
    @Override
    public String toString() {
      return json;
    }
  }

  /**
   * Refuses bytes that are not well-formed UTF-8 (RFC 3629) or hold a NUL (which JSON text never
   * does, and which would make the parser guess UTF-16 or UTF-32); answers whether a backslash, u, d
   * occurs (where a surrogate escape may).
   */
  static boolean checkUtf8(byte[] b) throws Rejected {
    boolean escapes = false;
    int n = b.length;
    int i = 0;
    while (i < n) {
      int c = b[i];
      if (c > 0) {
        if (c == '\\' && i + 2 < n && b[i + 1] == 'u' && (b[i + 2] == 'd' || b[i + 2] == 'D')) {
          escapes = true;
        }
        i++;
        continue;
      }
      if (c == 0) {
        throw new Rejected(DeadLetterReason.NOT_JSON, "not UTF-8 JSON: a NUL byte at " + i + " (UTF-16 or UTF-32?)");
      }
      c &= 0xFF;
      int more;
      int min;
      if (c >= 0xC2 && c <= 0xDF) {
        more = 1;
        min = 0x80;
      } else if (c >= 0xE0 && c <= 0xEF) {
        more = 2;
        min = 0x800;
      } else if (c >= 0xF0 && c <= 0xF4) {
        more = 3;
        min = 0x10000;
      } else {
        throw notUtf8(i, c);
      }
      if (i + more >= n) {
        throw notUtf8(i, c);
      }
      int cp = c & (0x3F >> more);
      for (int k = 1; k <= more; k++) {
        int d = b[i + k] & 0xFF;
        if ((d & 0xC0) != 0x80) {
          throw notUtf8(i, c);
        }
        cp = (cp << 6) | (d & 0x3F);
      }
      if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        throw notUtf8(i, c);
      }
      i += more + 1;
    }
    return escapes;
  }

  private static Rejected notUtf8(int at, int c) {
    return new Rejected(DeadLetterReason.NOT_JSON, String.format("not UTF-8: byte 0x%02X at %d", c, at));
  }

  /** Whether a string or field name in {@code n} holds a surrogate that is not half of a pair. */
  private static boolean hasLoneSurrogate(JsonNode n) {
    if (n.isTextual()) {
      return hasLoneSurrogate(n.textValue());
    }
    if (n.isObject()) {
      for (Map.Entry<String, JsonNode> e : n.properties()) {
        if (hasLoneSurrogate(e.getKey()) || hasLoneSurrogate(e.getValue())) {
          return true;
        }
      }
    } else if (n.isArray()) {
      for (JsonNode x : n) {
        if (hasLoneSurrogate(x)) {
          return true;
        }
      }
    }
    return false;
  }

  private static boolean hasLoneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return true;
      }
    }
    return false;
  }
}
