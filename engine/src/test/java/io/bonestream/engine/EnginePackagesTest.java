package io.bonestream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The engine's packages form layers: each uses only the ones below it, never one above or beside
 * it on the same level. Read from the sources (imports and qualified names in code, not comments).
 */
class EnginePackagesTest {
  /** Bottom to top; a package may use the packages of lower layers (and the root package). */
  static final List<List<String>> LAYERS = List.of(
      List.of("util"),
      List.of("config"),
      List.of("model"),
      List.of("device"),
      List.of("tokenizer", "adapters"),
      List.of("data", "peft", "generate"),
      List.of("backend"),
      List.of("train"),
      List.of("bench"));

  static final Pattern REF = Pattern.compile("io\\.bonestream\\.engine\\.([a-z]+)(?:\\.[a-z]+)*\\.([A-Z]\\w*)");

  static int layer(String pkg) {
    for (int i = 0; i < LAYERS.size(); i++) {
      if (LAYERS.get(i).contains(pkg)) {
        return i;
      }
    }
    return -1;
  }

  /** package → packages it uses, each with one example "Class -> Used". */
  static Map<String, Map<String, String>> uses(Path sources) throws IOException {
    Map<String, Map<String, String>> out = new TreeMap<>();
    Path root = sources.resolve("io/bonestream/engine");
    List<Path> files;
    try (Stream<Path> s = Files.walk(root)) {
      files = s.filter(p -> p.toString().endsWith(".java")).toList();
    }
    for (Path f : files) {
      Path rel = root.relativize(f);
      if (rel.getNameCount() < 2) {
        continue; // the root package (BonestreamException): below everything
      }
      String pkg = rel.getName(0).toString();
      String code = Files.readString(f).replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "");
      Matcher m = REF.matcher(code);
      while (m.find()) {
        if (!m.group(1).equals(pkg)) {
          out.computeIfAbsent(pkg, k -> new TreeMap<>()).putIfAbsent(m.group(1),
              f.getFileName().toString().replace(".java", "") + " -> " + m.group(2));
        }
      }
    }
    return out;
  }

  static List<String> violations(Map<String, Map<String, String>> uses) {
    List<String> out = new ArrayList<>();
    uses.forEach((from, targets) -> targets.forEach((to, example) -> {
      if (layer(from) < 0 || layer(to) < 0) {
        out.add("package " + (layer(from) < 0 ? from : to) + " is in no layer");
      } else if (layer(to) >= layer(from)) {
        out.add(from + " uses " + to + " (" + example + "): " + (layer(to) == layer(from) ? "the same layer" : "a layer above"));
      }
    }));
    return out;
  }

  @Test
  void noPackageUsesOneAboveOrBesideIt() throws IOException {
    Map<String, Map<String, String>> uses = uses(Path.of("src/main/java"));
    assertTrue(uses.containsKey("train") && uses.get("train").containsKey("backend"), uses.toString());
    assertEquals(List.of(), violations(uses)); // a package in no layer is a violation too
  }

  @Test
  void anArrowUpIsFound() {
    Map<String, Map<String, String>> uses = new TreeMap<>(Map.of(
        "model", Map.of("adapters", "Transformer -> AdapterSet"),
        "backend", Map.of("train", "X -> TrainConfig"),
        "data", Map.of("peft", "Y -> Z"),
        "util", Map.of("nowhere", "W -> V")));
    List<String> v = violations(uses);
    assertEquals(4, v.size(), v.toString());
    assertTrue(v.toString().contains("model uses adapters (Transformer -> AdapterSet): a layer above"), v.toString());
    assertTrue(v.toString().contains("data uses peft (Y -> Z): the same layer"), v.toString());
  }

  /** The training loop talks to the seam only: no test of which backend it has. */
  @Test
  void theTrainingLoopDoesNotAskWhichBackendItHas() throws IOException {
    List<String> found = new ArrayList<>();
    try (Stream<Path> s = Files.walk(Path.of("src/main/java/io/bonestream/engine/train"))) {
      for (Path f : s.filter(p -> p.toString().endsWith(".java")).toList()) {
        Matcher m = Pattern.compile("instanceof\\s+\\w*(Backend|Device)\\b").matcher(Files.readString(f));
        while (m.find()) {
          found.add(f.getFileName() + ": " + m.group());
        }
      }
    }
    assertEquals(List.of(), found);
  }

  /**
   * What in code names a particular adapter method: a value of {@code AdapterMethod}, a method's
   * device strategy ({@code XxxOnDevice}, not the interface), or anything from a method's folder
   * ({@code adapters.<method>}).
   */
  static final Pattern NAMES_A_METHOD = Pattern.compile("\\bAdapterMethod\\b|\\b(?!MethodOnDevice\\b)\\w+OnDevice\\b"
      + "|io\\.bonestream\\.engine\\.adapters\\.[a-z]+\\.");

  static List<String> namesOfMethods(String file, String source) {
    List<String> out = new ArrayList<>();
    Matcher m = NAMES_A_METHOD.matcher(source.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", ""));
    while (m.find()) {
      out.add(file + ": " + m.group());
    }
    return out;
  }

  /**
   * The device engine calls each adapter method's device math without knowing which method it is:
   * {@code adapters.AdapterMethods} is where a method is chosen. {@code Goldens} is exempt: its cases
   * are data that name the method each one trains.
   */
  @Test
  void theDeviceEngineDoesNotNameAMethod() throws IOException {
    List<String> found = new ArrayList<>();
    try (Stream<Path> s = Files.walk(Path.of("src/main/java/io/bonestream/engine/backend/device"))) {
      for (Path f : s.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
        if (!f.getFileName().toString().equals("Goldens.java")) {
          found.addAll(namesOfMethods(f.getFileName().toString(), Files.readString(f)));
        }
      }
    }
    assertEquals(List.of(), found);
  }

  @Test
  void aNamedMethodIsFound() {
    String code = """
        import io.bonestream.engine.adapters.bat.BatScratch;
        // BoneOnDevice in a comment is fine
        class X {
          MethodOnDevice m = a.method() == AdapterMethod.BAT ? BatOnDevice.INSTANCE : AdapterMethods.onDevice(a.method());
        }
        """;
    assertEquals(List.of("X: io.bonestream.engine.adapters.bat.", "X: AdapterMethod", "X: BatOnDevice"),
        namesOfMethods("X", code));
  }
}
