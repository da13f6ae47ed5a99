package io.bonestream.engine.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.InvalidExampleException.Reason;
import io.bonestream.engine.tokenizer.ChatMessage;
import java.util.ArrayList;
import java.util.List;

/**
 * Recognizes the JSON record formats and turns one into an {@link Example}:
 * {@code {"prompt","response"}} (optional {@code "system"}), Alpaca
 * {@code {"instruction","input","output"}} (prompt = instruction, then a blank line and the input
 * when there is one), chat {@code {"messages":[{"role","content"}…]}}, and pre-tokenized
 * {@code {"input_ids","labels"}}.
 */
public final class RecordParser {
  private final ExampleEncoder encoder;

  public RecordParser(ExampleEncoder encoder) {
    this.encoder = encoder;
  }

  public Example parse(JsonNode r) {
    if (!r.isObject()) {
      throw new InvalidExampleException(Reason.MALFORMED_JSON, "a record must be a JSON object");
    }
    if (r.has("input_ids")) {
      return encoder.tokens(intArray(r, "input_ids"), intArray(r, "labels"));
    }
    if (r.has("messages")) {
      JsonNode ms = r.get("messages");
      if (!ms.isArray()) {
        throw new InvalidExampleException(Reason.MISSING_FIELD, "'messages' must be an array");
      }
      List<ChatMessage> messages = new ArrayList<>();
      for (JsonNode m : ms) {
        String role = text(m, "role");
        String content = text(m, "content");
        try {
          messages.add(new ChatMessage(role, content));
        } catch (BonestreamException e) {
          throw new InvalidExampleException(Reason.UNKNOWN_ROLE, e.getMessage());
        }
      }
      return encoder.chat(messages);
    }
    if (r.has("instruction")) {
      String input = r.hasNonNull("input") ? r.get("input").asText() : "";
      return encoder.promptResponse(null, alpacaPrompt(text(r, "instruction"), input), text(r, "output"));
    }
    if (r.has("prompt") || r.has("response")) {
      String system = r.hasNonNull("system") ? r.get("system").asText() : null;
      return encoder.promptResponse(system, text(r, "prompt"), text(r, "response"));
    }
    throw new InvalidExampleException(Reason.MISSING_FIELD, "unrecognized record: expected "
        + "prompt/response, instruction/output, messages, or input_ids/labels");
  }

  /** The prompt of an Alpaca record: the instruction, then a blank line and the input if any. */
  public static String alpacaPrompt(String instruction, String input) {
    return instruction + (input.isBlank() ? "" : "\n\n" + input);
  }

  private static String text(JsonNode r, String field) {
    JsonNode n = r.get(field);
    if (n == null || n.isNull()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "missing field '" + field + "'");
    }
    if (!n.isTextual()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "field '" + field + "' must be a string");
    }
    return n.asText();
  }

  private static int[] intArray(JsonNode r, String field) {
    JsonNode n = r.get(field);
    if (n == null || n.isNull()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "missing field '" + field + "'");
    }
    if (!n.isArray()) {
      throw new InvalidExampleException(Reason.INVALID_TOKENS, "field '" + field + "' must be an array of integers");
    }
    int[] out = new int[n.size()];
    for (int i = 0; i < out.length; i++) {
      if (!n.get(i).canConvertToInt() || !n.get(i).isIntegralNumber()) {
        throw new InvalidExampleException(Reason.INVALID_TOKENS, field + "[" + i + "] is not an integer");
      }
      out[i] = n.get(i).asInt();
    }
    return out;
  }
}
