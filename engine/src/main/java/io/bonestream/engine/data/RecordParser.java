package io.bonestream.engine.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.InvalidExampleException.Reason;
import io.bonestream.engine.tokenizer.ChatMessage;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The one reader of JSON records, for {@code train}, {@code produce}, {@code inspect} and the job:
 * turns a record of any {@link RecordShape} into an {@link Instruction} ({@link #read}, no tokenizer
 * needed) or an {@link Example} ({@link #parse}).
 *
 * <ul>
 *   <li>chat (OpenAI): {@code messages} of {@code {role, content}}; roles system, user, assistant
 *       ({@code developer} is read as system); content a string or a list of {@code {"type":
 *       "text"}} parts. Records with {@code tools}, {@code tool_calls} or a {@code tool} role are
 *       refused; a message's {@code name} as {@link Options#names} says.
 *   <li>sharegpt: {@code conversations} of {@code {from, value}}; {@code human}/{@code user},
 *       {@code gpt}/{@code assistant}, {@code system}; an optional top-level {@code system}.
 *   <li>alpaca: prompt = instruction, then a blank line and the input when there is one.
 *   <li>prompt-completion, prompt-response: optional {@code system}.
 *   <li>text: every token a target. tokens: {@code input_ids} and {@code labels}.
 * </ul>
 */
public final class RecordParser {
  /** What a chat message's {@code name} (OpenAI's speaker name) becomes. */
  public enum MessageNames {
    /** The record is refused: a name the template cannot render would be lost silently. */
    REFUSE,
    /** The name is dropped. */
    DROP,
    /** The content becomes {@code "<name>: <content>"}. */
    PREFIX;

    public static MessageNames fromId(String id) {
      return switch (id) {
        case "refuse" -> REFUSE;
        case "drop" -> DROP;
        case "prefix" -> PREFIX;
        default -> throw new BonestreamException("unknown message-names '" + id + "' (known: refuse, drop, prefix)");
      };
    }
  }

  /** How a topic's records are read: their shape (or auto), field names, and message names. */
  public record Options(RecordShape shape, FieldNames fields, MessageNames names) implements Serializable {
    public static final Options DEFAULT = new Options(RecordShape.AUTO, FieldNames.DEFAULT, MessageNames.REFUSE);

    public Options withShape(RecordShape s) {
      return new Options(s, fields, names);
    }

    public Options withFields(FieldNames f) {
      return new Options(shape, f, names);
    }
  }

  private static final Map<String, String> SHAREGPT_ROLES = Map.of("human", "user", "user", "user", "gpt",
      "assistant", "assistant", "assistant", "system", "system");

  private final ExampleEncoder encoder;
  private final Options options;

  public RecordParser(ExampleEncoder encoder) {
    this(encoder, Options.DEFAULT);
  }

  public RecordParser(ExampleEncoder encoder, Options options) {
    this.encoder = encoder;
    this.options = options;
  }

  public Example parse(JsonNode r) {
    return read(r, options).encode(encoder);
  }

  /** The shape {@code r} has: {@code o.shape()} unless that is auto. */
  public static RecordShape shapeOf(JsonNode r, Options o) {
    if (o.shape() != RecordShape.AUTO) {
      return o.shape();
    }
    FieldNames f = o.fields();
    if (f.has(r, "messages")) {
      return RecordShape.CHAT;
    }
    if (f.has(r, "conversations")) {
      return RecordShape.SHAREGPT;
    }
    if (f.has(r, "input_ids")) {
      return RecordShape.TOKENS;
    }
    if (f.has(r, "instruction")) {
      return RecordShape.ALPACA;
    }
    if (f.has(r, "prompt") && f.has(r, "completion")) {
      return RecordShape.PROMPT_COMPLETION;
    }
    if (f.has(r, "prompt") || f.has(r, "response")) {
      return RecordShape.PROMPT_RESPONSE;
    }
    if (f.has(r, "text")) {
      return RecordShape.TEXT;
    }
    throw new InvalidExampleException(Reason.MISSING_FIELD, "unrecognized record: expected messages, "
        + "conversations, input_ids/labels, instruction/output, prompt/completion, prompt/response or text");
  }

  /** Reads {@code r} as {@code o} says, without tokenizing. */
  public static Instruction read(JsonNode r, Options o) {
    if (!r.isObject()) {
      throw new InvalidExampleException(Reason.MALFORMED_JSON, "a record must be a JSON object");
    }
    FieldNames f = o.fields();
    return switch (shapeOf(r, o)) {
      case CHAT -> new Instruction.Chat(chat(r, o));
      case SHAREGPT -> new Instruction.Chat(shareGpt(r, f));
      case TOKENS -> new Instruction.Tokens(intArray(r, f, "input_ids"), intArray(r, f, "labels"));
      case ALPACA -> {
        JsonNode input = f.get(r, "input");
        if (input != null && !input.isTextual()) {
          throw new InvalidExampleException(Reason.MISSING_FIELD, "field '" + f.name("input") + "' must be a string");
        }
        yield new Instruction.PromptResponse(optionalText(r, f, "system"),
            alpacaPrompt(text(r, f, "instruction"), input == null ? "" : input.asText()), text(r, f, "output"));
      }
      case PROMPT_COMPLETION -> new Instruction.PromptResponse(optionalText(r, f, "system"), text(r, f, "prompt"),
          text(r, f, "completion"));
      case PROMPT_RESPONSE -> new Instruction.PromptResponse(optionalText(r, f, "system"), text(r, f, "prompt"),
          text(r, f, "response"));
      case TEXT -> new Instruction.Text(text(r, f, "text"));
      case AUTO -> throw new IllegalStateException("shapeOf never answers auto");
    };
  }

  /** The prompt of an Alpaca record: the instruction, then a blank line and the input if any. */
  public static String alpacaPrompt(String instruction, String input) {
    return instruction + (input.isBlank() ? "" : "\n\n" + input);
  }

  private static List<ChatMessage> chat(JsonNode r, Options o) {
    FieldNames f = o.fields();
    JsonNode tools = f.get(r, "tools");
    if (tools != null && !(tools.isArray() && tools.isEmpty())) {
      throw new InvalidExampleException(Reason.UNSUPPORTED_CONTENT,
          "a record with tools is not trained on (tool definitions have no place in the chat template here)");
    }
    JsonNode ms = array(r, f, "messages");
    List<ChatMessage> messages = new ArrayList<>(ms.size());
    for (int i = 0; i < ms.size(); i++) {
      JsonNode m = ms.get(i);
      String where = f.name("messages") + "[" + i + "]";
      if (!m.isObject()) {
        throw new InvalidExampleException(Reason.MISSING_FIELD, where + " must be an object");
      }
      if (f.has(m, "tool_calls")) {
        throw new InvalidExampleException(Reason.UNSUPPORTED_CONTENT, where + " holds tool_calls, which are not trained on");
      }
      String role = text(m, f, "role", where);
      if (role.equals("tool") || role.equals("function")) {
        throw new InvalidExampleException(Reason.UNSUPPORTED_CONTENT, where + " is a " + role
            + " message, which is not trained on");
      }
      if (role.equals("developer")) {
        role = "system"; // OpenAI's newer name for the system message
      }
      String content = content(m, f, where);
      String name = optionalText(m, f, "name");
      if (name != null) {
        switch (o.names()) {
          case REFUSE -> throw new InvalidExampleException(Reason.UNSUPPORTED_CONTENT, where + " has a name ('"
              + abbreviate(name) + "'); set message-names to drop or prefix to train on it");
          case PREFIX -> content = name + ": " + content;
          case DROP -> { }
        }
      }
      messages.add(message(role, content, where));
    }
    return messages;
  }

  /** A message's content: a string, or a list of text parts (joined); images and audio are refused. */
  private static String content(JsonNode m, FieldNames f, String where) {
    JsonNode c = f.get(m, "content");
    if (c == null) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, where + ": missing field '" + f.name("content") + "'");
    }
    if (c.isTextual()) {
      return c.asText();
    }
    if (!c.isArray()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, where + ": '" + f.name("content")
          + "' must be a string or a list of text parts");
    }
    StringBuilder s = new StringBuilder();
    for (JsonNode part : c) {
      String type = part.isObject() && part.path("type").isTextual() ? part.get("type").asText() : null;
      if (!"text".equals(type) || !part.path("text").isTextual()) {
        throw new InvalidExampleException(Reason.UNSUPPORTED_CONTENT, where + ": only text content parts are "
            + "trained on, got " + (type == null ? "a part without a type" : "type '" + abbreviate(type) + "'"));
      }
      s.append(part.get("text").asText());
    }
    return s.toString();
  }

  private static List<ChatMessage> shareGpt(JsonNode r, FieldNames f) {
    JsonNode cs = array(r, f, "conversations");
    List<ChatMessage> messages = new ArrayList<>(cs.size() + 1);
    String system = optionalText(r, f, "system");
    if (system != null && !system.isEmpty()) {
      messages.add(new ChatMessage("system", system));
    }
    for (int i = 0; i < cs.size(); i++) {
      JsonNode m = cs.get(i);
      String where = f.name("conversations") + "[" + i + "]";
      if (!m.isObject()) {
        throw new InvalidExampleException(Reason.MISSING_FIELD, where + " must be an object");
      }
      String from = text(m, f, "from", where);
      String role = SHAREGPT_ROLES.get(from);
      if (role == null) {
        throw new InvalidExampleException(Reason.UNKNOWN_ROLE, where + ": unknown speaker '" + abbreviate(from)
            + "' (known: human, user, gpt, assistant, system)");
      }
      messages.add(message(role, text(m, f, "value", where), where));
    }
    return messages;
  }

  private static ChatMessage message(String role, String content, String where) {
    try {
      return new ChatMessage(role, content);
    } catch (BonestreamException e) {
      throw new InvalidExampleException(Reason.UNKNOWN_ROLE, where + ": unknown role '" + abbreviate(role)
          + "' (known: system, developer, user, assistant)");
    }
  }

  private static JsonNode array(JsonNode r, FieldNames f, String field) {
    JsonNode n = f.get(r, field);
    if (n == null) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "missing field '" + f.name(field) + "'");
    }
    if (!n.isArray()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "'" + f.name(field) + "' must be an array");
    }
    return n;
  }

  private static String text(JsonNode r, FieldNames f, String field) {
    return text(r, f, field, null);
  }

  private static String text(JsonNode r, FieldNames f, String field, @Nullable String where) {
    JsonNode n = f.get(r, field);
    String at = where == null ? "" : where + ": ";
    if (n == null) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, at + "missing field '" + f.name(field) + "'");
    }
    if (!n.isTextual()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, at + "field '" + f.name(field) + "' must be a string");
    }
    return n.asText();
  }

  private static @Nullable String optionalText(JsonNode r, FieldNames f, String field) {
    return f.has(r, field) ? text(r, f, field) : null;
  }

  private static int[] intArray(JsonNode r, FieldNames f, String field) {
    JsonNode n = f.get(r, field);
    if (n == null) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "missing field '" + f.name(field) + "'");
    }
    if (!n.isArray()) {
      throw new InvalidExampleException(Reason.INVALID_TOKENS, "field '" + f.name(field)
          + "' must be an array of integers");
    }
    int[] out = new int[n.size()];
    for (int i = 0; i < out.length; i++) {
      if (!n.get(i).canConvertToInt() || !n.get(i).isIntegralNumber()) {
        throw new InvalidExampleException(Reason.INVALID_TOKENS, f.name(field) + "[" + i + "] is not an integer");
      }
      out[i] = n.get(i).asInt();
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }
}
