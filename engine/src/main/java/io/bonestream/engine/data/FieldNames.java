package io.bonestream.engine.data;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import java.io.Serializable;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * The names a topic's records use for the fields {@link RecordParser} reads: {@code fields:
 * {prompt: question, response: answer}} reads a record's {@code question} as the prompt. A name may
 * be a dotted path into nested objects ({@code payload.question}). Unmapped fields keep their
 * standard names.
 */
public final class FieldNames implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The standard names that may be mapped. */
  public static final Set<String> STANDARD = Set.of("prompt", "response", "completion", "system", "instruction",
      "input", "output", "messages", "role", "content", "name", "conversations", "from", "value", "text",
      "input_ids", "labels", "tools", "tool_calls");

  public static final FieldNames DEFAULT = new FieldNames(Map.of());

  private final Map<String, String> names;

  private FieldNames(Map<String, String> names) {
    this.names = Map.copyOf(names);
  }

  /** A mapping from standard names to the record's own; an unknown standard name is an error. */
  public static FieldNames of(Map<String, String> mapping) {
    for (var e : mapping.entrySet()) {
      if (!STANDARD.contains(e.getKey())) {
        throw new BonestreamException("fields: '" + e.getKey() + "' is not a field a record shape reads (known: "
            + String.join(", ", new TreeSet<>(STANDARD)) + ")");
      }
      if (e.getValue() == null || e.getValue().isBlank() || e.getValue().startsWith(".") || e.getValue().endsWith(".")
          || e.getValue().contains("..")) {
        throw new BonestreamException("fields: '" + e.getKey() + "' needs a field name or a dotted path, got '"
            + e.getValue() + "'");
      }
    }
    return new FieldNames(mapping);
  }

  /** The record's name for a standard field. */
  public String name(String standard) {
    return names.getOrDefault(standard, standard);
  }

  /** The mapped names, standard name to the record's. */
  public Map<String, String> mapping() {
    return names;
  }

  /** The value of a standard field in {@code record}, or null if absent or JSON null. */
  public @Nullable JsonNode get(JsonNode record, String standard) {
    return at(record, name(standard));
  }

  public boolean has(JsonNode record, String standard) {
    return get(record, standard) != null;
  }

  /** The value at a dotted path, or null if absent or JSON null. */
  public static @Nullable JsonNode at(JsonNode record, String path) {
    JsonNode n = record;
    int from = 0;
    while (n != null) {
      int dot = path.indexOf('.', from);
      String part = dot < 0 ? path.substring(from) : path.substring(from, dot);
      n = n.isObject() ? n.get(part) : null;
      if (dot < 0) {
        break;
      }
      from = dot + 1;
    }
    return n == null || n.isNull() || n.isMissingNode() ? null : n;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof FieldNames f && f.names.equals(names);
  }

  @Override
  public int hashCode() {
    return names.hashCode();
  }

  @Override
  public String toString() {
    return names.toString();
  }
}
