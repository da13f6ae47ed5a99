package io.bonestream.job.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A Flink config.yaml of flat keys: read from a template (comments kept), values replaced or
 * added, written to a conf folder.
 */
final class FlinkConfigFile {
  private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_./:+;=-][A-Za-z0-9_./:+;= -]*");

  private final List<String> lines;
  private final Map<String, String> values = new LinkedHashMap<>();

  private FlinkConfigFile(List<String> lines) {
    this.lines = new ArrayList<>(lines);
    for (String l : lines) {
      int colon = l.indexOf(": ");
      if (!l.isBlank() && !l.startsWith("#") && !l.startsWith(" ") && colon > 0) {
        values.put(l.substring(0, colon), l.substring(colon + 2).strip());
      }
    }
  }

  static FlinkConfigFile read(Path file) {
    try {
      return new FlinkConfigFile(Files.readAllLines(file));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The value (unquoted), or null. */
  String get(String key) {
    String v = values.get(key);
    if (v != null && v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
      return v.substring(1, v.length() - 1).replace("\\\"", "\"").replace("\\\\", "\\");
    }
    return v;
  }

  /** Sets a key to a string value (quoted when YAML needs it). */
  FlinkConfigFile set(String key, String value) {
    return setYaml(key, PLAIN.matcher(value).matches() && !value.contains(": ") && !value.endsWith(" ")
        ? value : "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"");
  }

  /** Sets a key to a YAML value written as is (e.g. a list {@code [a, b]}). */
  FlinkConfigFile setYaml(String key, String yaml) {
    String line = key + ": " + yaml;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith(key + ": ")) {
        lines.set(i, line);
        values.put(key, yaml);
        return this;
      }
    }
    lines.add(line);
    values.put(key, yaml);
    return this;
  }

  void write(Path file) {
    try {
      Files.createDirectories(file.getParent());
      Files.write(file, lines);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
