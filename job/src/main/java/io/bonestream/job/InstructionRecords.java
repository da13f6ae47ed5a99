package io.bonestream.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.InstructionRecord;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the JSON record formats of {@code bonestream train} into {@link InstructionRecord}s: prompt
 * and response (optional system), Alpaca instruction/input/output, chat messages, or input_ids and
 * labels. Only the shape is checked here; the job validates the content.
 */
public final class InstructionRecords {
  private InstructionRecords() {}

  public static InstructionRecord fromJson(JsonNode r, String adapterId, String exampleId) {
    if (!r.isObject()) {
      throw new BonestreamException("a record must be a JSON object");
    }
    InstructionRecord.Builder b = InstructionRecord.newBuilder().setAdapterId(adapterId).setExampleId(exampleId);
    if (r.has("input_ids")) {
      b.setInputIds(ints(r.get("input_ids"), "input_ids")).setLabels(ints(r.get("labels"), "labels"));
    } else if (r.has("messages")) {
      List<ChatMessage> ms = new ArrayList<>();
      for (JsonNode m : r.get("messages")) {
        ms.add(ChatMessage.newBuilder().setRole(text(m, "role")).setContent(text(m, "content")).build());
      }
      b.setMessages(ms);
    } else if (r.has("instruction")) {
      String input = r.hasNonNull("input") ? r.get("input").asText() : "";
      b.setPrompt(RecordParser.alpacaPrompt(text(r, "instruction"), input)).setResponse(text(r, "output"));
    } else if (r.has("prompt") || r.has("response")) {
      b.setPrompt(text(r, "prompt")).setResponse(text(r, "response"));
      if (r.hasNonNull("system")) {
        b.setSystem(r.get("system").asText());
      }
    } else {
      throw new BonestreamException("unrecognized record: expected prompt/response, "
          + "instruction/output, messages, or input_ids/labels");
    }
    if (r.hasNonNull("weight")) {
      b.setWeight((float) r.get("weight").asDouble());
    }
    return b.build();
  }

  private static String text(JsonNode r, String field) {
    JsonNode n = r.get(field);
    if (n == null || !n.isTextual()) {
      throw new BonestreamException("missing or non-text field '" + field + "'");
    }
    return n.asText();
  }

  private static List<Integer> ints(JsonNode n, String field) {
    if (n == null || !n.isArray()) {
      throw new BonestreamException("missing field '" + field + "' (an array of integers)");
    }
    List<Integer> out = new ArrayList<>();
    for (JsonNode v : n) {
      if (!v.isIntegralNumber()) {
        throw new BonestreamException(field + " holds a non-integer: " + v);
      }
      out.add(v.asInt());
    }
    return out;
  }
}
