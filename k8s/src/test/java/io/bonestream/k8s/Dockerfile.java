package io.bonestream.k8s;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The instructions of a Dockerfile that the checks read: stages (FROM), build arguments with their
 * defaults, COPY, USER, VOLUME, ENV, ENTRYPOINT, EXPOSE. Line continuations joined, comments dropped.
 */
final class Dockerfile {
  record Instruction(int line, String keyword, String args, String stage) {}

  record Copy(int line, String stage, String from, List<String> sources, String destination) {}

  final Path file;
  final List<Instruction> instructions = new ArrayList<>();
  /** Stage name (or index) to its FROM image. */
  final Map<String, String> stages = new LinkedHashMap<>();

  Dockerfile(Path file, String text) {
    this.file = file;
    String stage = null;
    int index = 0;
    String[] lines = text.split("\n", -1);
    StringBuilder current = new StringBuilder();
    int start = 0;
    for (int i = 0; i < lines.length; i++) {
      String l = lines[i];
      if (current.isEmpty() && (l.isBlank() || l.stripLeading().startsWith("#"))) {
        continue;
      }
      if (!current.isEmpty() && l.stripLeading().startsWith("#")) {
        continue;
      }
      if (current.isEmpty()) {
        start = i + 1;
      }
      String t = l.stripTrailing();
      if (t.endsWith("\\")) {
        current.append(t, 0, t.length() - 1).append(' ');
        continue;
      }
      current.append(t);
      String full = current.toString().strip();
      current.setLength(0);
      String[] kw = full.split("\\s+", 2);
      String keyword = kw[0].toUpperCase();
      String args = kw.length > 1 ? kw[1].strip() : "";
      if (keyword.equals("FROM")) {
        String[] p = args.split("\\s+");
        stage = p.length >= 3 && p[1].equalsIgnoreCase("AS") ? p[2] : String.valueOf(index);
        stages.put(stage, p[0]);
        index++;
      }
      instructions.add(new Instruction(start, keyword, args, stage));
    }
  }

  static Dockerfile read(Path file) {
    try {
      return new Dockerfile(file, Files.readString(file));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  List<Instruction> all(String keyword) {
    return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
  }

  /** The default of a build argument (the last ARG NAME=default). */
  String arg(String name) {
    String v = null;
    for (Instruction i : all("ARG")) {
      String[] kv = i.args().split("=", 2);
      if (kv[0].equals(name) && kv.length == 2) {
        v = kv[1];
      }
    }
    return v;
  }

  /** {@code $NAME} and {@code ${NAME}} replaced by the build arguments' defaults. */
  String expand(String s) {
    Matcher m = Pattern.compile("\\$\\{?([A-Za-z_][A-Za-z0-9_]*)}?").matcher(s);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String v = arg(m.group(1));
      m.appendReplacement(out, Matcher.quoteReplacement(v != null ? v : m.group()));
    }
    m.appendTail(out);
    return out.toString();
  }

  List<Copy> copies() {
    List<Copy> out = new ArrayList<>();
    for (Instruction i : instructions) {
      if (!i.keyword().equals("COPY") && !i.keyword().equals("ADD")) {
        continue;
      }
      List<String> words = new ArrayList<>(Arrays.asList(i.args().split("\\s+")));
      String from = null;
      while (!words.isEmpty() && words.get(0).startsWith("--")) {
        String flag = words.remove(0);
        if (flag.startsWith("--from=")) {
          from = flag.substring("--from=".length());
        }
      }
      String dest = expand(words.remove(words.size() - 1));
      out.add(new Copy(i.line(), i.stage(), from, words.stream().map(this::expand).toList(), dest));
    }
    return out;
  }

  /** The last value of an instruction in a stage, e.g. USER. */
  String last(String keyword, String stage) {
    String v = null;
    for (Instruction i : instructions) {
      if (i.keyword().equals(keyword) && i.stage().equals(stage)) {
        v = i.args();
      }
    }
    return v;
  }

  /** A JSON-array instruction's words (ENTRYPOINT, VOLUME, CMD). */
  static List<String> jsonWords(String args) {
    List<String> l = new ArrayList<>();
    Yaml.read(args).forEach(n -> l.add(n.asText()));
    return l;
  }

  /** ENV NAME=value pairs of a stage. */
  Map<String, String> env(String stage) {
    Map<String, String> m = new LinkedHashMap<>();
    for (Instruction i : instructions) {
      if (i.keyword().equals("ENV") && i.stage().equals(stage)) {
        Matcher x = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\\S+)").matcher(i.args());
        while (x.find()) {
          m.put(x.group(1), x.group(2));
        }
      }
    }
    return m;
  }
}
