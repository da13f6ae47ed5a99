package io.bonestream.job;

import io.bonestream.core.util.Durations;
import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * A section of a YAML settings file read strictly: only known keys, typed values, and every
 * error naming the file and the key path (e.g. {@code job.yaml: snapshots.every-steps}).
 */
final class StrictNode {
  private final JsonNode node;
  private final String file;
  private final String path;

  StrictNode(JsonNode node, String file, String path) {
    this.node = node;
    this.file = file;
    this.path = path;
    if (node != null && !node.isNull() && !node.isObject()) {
      throw error(path.isEmpty() ? "the file must be a mapping of settings" : "must be a mapping");
    }
  }

  /** Refuses any key outside {@code known}. */
  StrictNode allow(String... known) {
    Set<String> k = new TreeSet<>(List.of(known));
    if (node != null) {
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        if (!k.contains(name)) {
          throw new BonestreamException(file + ": unknown key '" + key(name) + "' (known here: "
              + String.join(", ", k) + ")");
        }
      }
    }
    return this;
  }

  /** The settings file's name, which begins every error. */
  String file() {
    return file;
  }

  /** The node itself (for a block another class validates). */
  JsonNode json() {
    return node;
  }

  boolean has(String key) {
    return node != null && node.has(key) && !node.get(key).isNull();
  }

  StrictNode section(String key) {
    return new StrictNode(node == null ? null : node.get(key), file, key(key));
  }

  String text(String key, String dflt) {
    if (!has(key)) {
      return dflt;
    }
    JsonNode v = node.get(key);
    if (!v.isValueNode()) {
      throw errorAt(key, "must be a single value");
    }
    return v.asText();
  }

  String requiredText(String key) {
    String v = text(key, null);
    if (v == null || v.isBlank()) {
      throw errorAt(key, "is required");
    }
    return v;
  }

  double number(String key, double dflt) {
    if (!has(key)) {
      return dflt;
    }
    JsonNode v = node.get(key);
    if (v.isNumber()) {
      return v.asDouble();
    }
    try {
      return Double.parseDouble(v.asText());
    } catch (NumberFormatException e) {
      throw errorAt(key, "must be a number, not '" + v.asText() + "'");
    }
  }

  long integer(String key, long dflt) {
    double d = number(key, dflt);
    if (d != Math.rint(d)) {
      throw errorAt(key, "must be a whole number, not " + d);
    }
    return (long) d;
  }

  boolean bool(String key, boolean dflt) {
    if (!has(key)) {
      return dflt;
    }
    JsonNode v = node.get(key);
    if (!v.isBoolean()) {
      throw errorAt(key, "must be true or false");
    }
    return v.asBoolean();
  }

  long millis(String key, long dflt) {
    return has(key) ? Durations.parse(text(key, null), file + ": " + key(key)).toMillis() : dflt;
  }

  long bytes(String key, long dflt) {
    return has(key) ? Durations.parseBytes(text(key, null), file + ": " + key(key)) : dflt;
  }

  List<String> strings(String key, List<String> dflt) {
    if (!has(key)) {
      return dflt;
    }
    JsonNode v = node.get(key);
    if (!v.isArray()) {
      throw errorAt(key, "must be a list");
    }
    List<String> out = new ArrayList<>();
    v.forEach(x -> out.add(x.asText()));
    return out;
  }

  List<StrictNode> list(String key) {
    List<StrictNode> out = new ArrayList<>();
    if (!has(key)) {
      return out;
    }
    JsonNode v = node.get(key);
    if (!v.isArray()) {
      throw errorAt(key, "must be a list");
    }
    for (int i = 0; i < v.size(); i++) {
      out.add(new StrictNode(v.get(i), file, key(key) + "[" + i + "]"));
    }
    return out;
  }

  /** A free-form mapping of strings (passed through, e.g. Kafka client properties). */
  java.util.Map<String, String> properties(String key) {
    java.util.Map<String, String> out = new java.util.LinkedHashMap<>();
    if (!has(key)) {
      return out;
    }
    JsonNode v = node.get(key);
    if (!v.isObject()) {
      throw errorAt(key, "must be a mapping");
    }
    v.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
    return out;
  }

  BonestreamException errorAt(String key, String message) {
    return new BonestreamException(file + ": " + key(key) + " " + message);
  }

  BonestreamException error(String message) {
    return new BonestreamException(file + (path.isEmpty() ? "" : ": " + path) + " " + message);
  }

  private String key(String k) {
    return path.isEmpty() ? k : path + "." + k;
  }
}
