package io.bonestream.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.Instruction;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.InstructionRecord;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Turns JSON records (any shape the engine's {@link RecordParser} reads) into {@link
 * InstructionRecord}s. Only the shape is checked here; the job validates the content.
 */
public final class InstructionRecords {
  private InstructionRecords() {}

  /** A record of the default shapes (auto-detected, standard field names). */
  public static InstructionRecord fromJson(JsonNode r, String adapterId, String exampleId) {
    return fromJson(r, RecordParser.Options.DEFAULT, adapterId, exampleId);
  }

  public static InstructionRecord fromJson(JsonNode r, RecordParser.Options options, String adapterId, String exampleId) {
    InstructionRecord.Builder b = of(RecordParser.read(r, options), adapterId, exampleId);
    if (r.hasNonNull("weight")) {
      if (!r.get("weight").isNumber()) {
        throw new BonestreamException("field 'weight' must be a number");
      }
      b.setWeight((float) r.get("weight").asDouble());
    }
    if (r.hasNonNull("metadata")) {
      b.setMetadata(metadata(r.get("metadata")));
    }
    return b.build();
  }

  /** A JSON record's {@code metadata} object (its {@code user_id} among them) as InstructionRecord's string map. */
  private static java.util.Map<String, String> metadata(JsonNode m) {
    if (!m.isObject()) {
      throw new BonestreamException("field 'metadata' must be an object of text values");
    }
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    for (var e : m.properties()) {
      JsonNode v = e.getValue();
      if (v.isTextual() || v.isIntegralNumber()) {
        out.put(e.getKey(), v.asText());
      } else if (!v.isNull()) {
        throw new BonestreamException("metadata '" + e.getKey() + "' must be text (InstructionRecord's metadata "
            + "is a map of strings)");
      }
    }
    return out;
  }

  /** The Avro form of an instruction; plain text has none (it needs a json input). */
  public static InstructionRecord.Builder of(Instruction i, String adapterId, @Nullable String exampleId) {
    InstructionRecord.Builder b = InstructionRecord.newBuilder().setAdapterId(adapterId).setExampleId(exampleId);
    if (i instanceof Instruction.PromptResponse p) {
      b.setSystem(p.system()).setPrompt(p.prompt()).setResponse(p.response());
    } else if (i instanceof Instruction.Chat c) {
      List<ChatMessage> ms = new ArrayList<>();
      for (var m : c.messages()) {
        ms.add(ChatMessage.newBuilder().setRole(m.role()).setContent(m.content()).build());
      }
      b.setMessages(ms);
    } else if (i instanceof Instruction.Tokens t) {
      b.setInputIds(boxed(t.inputIds())).setLabels(boxed(t.labels()));
    } else {
      throw new BonestreamException("plain text records have no Avro form (InstructionRecord has no text field): "
          + "send them to a json input (produce --format json)");
    }
    return b;
  }

  private static List<Integer> boxed(int[] v) {
    return Arrays.stream(v).boxed().toList();
  }
}
