package io.bonestream.operators.decode;

import io.bonestream.engine.data.Instruction;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.operators.KafkaInput;
import io.bonestream.schemas.InstructionRecord;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.MissingSchemaException;

/** {@code InstructionRecord}s in Avro's single-object encoding. */
final class AvroDecoder implements RecordDecoder {
  private static final long serialVersionUID = 1L;
  private static final String METADATA = "metadata.";

  @Override
  public Decoded decode(KafkaInput in) throws Rejected {
    InstructionRecord r;
    try {
      r = InstructionRecord.getDecoder().decode(in.value);
    } catch (MissingSchemaException e) {
      throw new Rejected(DeadLetterReason.UNKNOWN_SCHEMA, "unknown Avro schema fingerprint: " + e.getMessage());
    } catch (BadHeaderException e) {
      throw new Rejected(DeadLetterReason.NOT_AVRO, "not Avro single-object encoded: " + e.getMessage());
    } catch (java.io.IOException | RuntimeException e) {
      // whatever corrupt bytes make Avro throw (found by DecodeFuzzTest: UnsupportedOperationException
      // for absurd length prefixes, among others) is a bad record, never a failing job
      throw new Rejected(DeadLetterReason.NOT_AVRO, "corrupt Avro payload: " + e.getClass().getSimpleName()
          + (e.getMessage() == null ? "" : ": " + Texts.abbreviate(e.getMessage())));
    }
    return new Decoded(instruction(r), path -> switch (path) {
      case "adapter_id" -> r.getAdapterId();
      case "example_id" -> r.getExampleId();
      case "weight" -> r.getWeight();
      case "event_time" -> r.getEventTime();
      // metadata.<key> (the default user id source, as for a JSON record) or a bare metadata key
      default -> r.getMetadata().get(path.startsWith(METADATA) ? path.substring(METADATA.length()) : path);
    });
  }

  private static Instruction instruction(InstructionRecord r) throws Rejected {
    boolean text = r.getPrompt() != null || r.getResponse() != null;
    boolean chat = r.getMessages() != null;
    boolean tokens = r.getInputIds() != null || r.getLabels() != null;
    if ((text ? 1 : 0) + (chat ? 1 : 0) + (tokens ? 1 : 0) != 1) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD,
          "a record needs exactly one of prompt+response, messages, or input_ids+labels");
    }
    if (text) {
      if (r.getPrompt() == null || r.getResponse() == null) {
        throw new Rejected(DeadLetterReason.MISSING_FIELD, "missing field '"
            + (r.getPrompt() == null ? "prompt" : "response") + "'");
      }
      return new Instruction.PromptResponse(r.getSystem(), r.getPrompt(), r.getResponse());
    }
    if (chat) {
      List<ChatMessage> messages = new ArrayList<>();
      for (var m : r.getMessages()) {
        if (!ChatMessage.ROLES.contains(m.getRole())) {
          throw new Rejected(DeadLetterReason.UNKNOWN_ROLE, "unknown role '" + Texts.abbreviate(m.getRole())
              + "' (known: system, user, assistant)");
        }
        messages.add(new ChatMessage(m.getRole(), m.getContent()));
      }
      return new Instruction.Chat(messages);
    }
    if (r.getInputIds() == null || r.getLabels() == null) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD, "missing field '"
          + (r.getInputIds() == null ? "input_ids" : "labels") + "'");
    }
    return new Instruction.Tokens(r.getInputIds().stream().mapToInt(Integer::intValue).toArray(),
        r.getLabels().stream().mapToInt(Integer::intValue).toArray());
  }
}
