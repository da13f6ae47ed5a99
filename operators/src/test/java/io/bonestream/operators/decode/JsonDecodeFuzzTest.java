package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.AdapterIds;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link DecodeFuzzTest}'s counterpart for JSON inputs: random bytes, valid records of every shape
 * (written here by a JSON writer of the test's own, never by the decoder's library, and checked
 * against what the engine's encoder makes of the same texts), the same records mutated (byte flips,
 * truncation, inserted garbage, deleted braces, nulls and wrong types in place of values), hostile
 * structure (100k-deep nesting, huge numbers, long strings and names, duplicate keys, numbers and
 * booleans as adapter ids, invalid UTF-8, UTF-16 and UTF-32, NUL, lone surrogates, too many
 * messages, too much text), adversarial field mappings and dotted paths, and values from keys and
 * headers that are not UTF-8. Every input either becomes a valid training item or is rejected with
 * a reason; nothing else escapes. A failure names the seed and case that reproduce it.
 */
class JsonDecodeFuzzTest {
  private static final long SEED = 20261206L;
  /** The limits of the fuzz runs: 16 KiB a record, 32 messages, 8 Ki characters of text. */
  private static final InputLimits LIMITS = new InputLimits(16 << 10, 32, 8 << 10);
  private static SharedModels.Loaded model;
  private static ExampleEncoder encoder;
  private static int vocab;
  /** A JSON input with the standard field names, the adapter id from the record. */
  private static DecodeInstructions plain;
  /** The same at the default limits (1 MiB a record): hostile structure reaches the parser. */
  private static DecodeInstructions roomy;

  @BeforeAll
  static void load() {
    model = SharedModels.acquire(TestFiles.stories260K());
    vocab = model.model().config().vocabSize();
    encoder = new ExampleEncoder(model.tokenizer(), 64, vocab);
    plain = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON).build(), LIMITS);
    roomy = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON).build(), InputLimits.DEFAULT);
  }

  @AfterAll
  static void release() {
    SharedModels.release(TestFiles.stories260K());
  }

  private static DecodeInstructions decoder(InputSpec spec, InputLimits limits) {
    DecodeInstructions d = new DecodeInstructions(TestFiles.stories260K().toString(), 64, limits, false, List.of(spec));
    d.prepare(model);
    return d;
  }

  // ---------------------------------------------------------------- the harness

  /**
   * An input and what must come of it: {@link #ACCEPT}, a reason's name, or null (either way); and
   * when accepted, its adapter id (null: any valid one).
   */
  private record Case(KafkaInput in, String expected, String adapterId) {
    Case(KafkaInput in, String expected) {
      this(in, expected, null);
    }
  }

  private static final String ACCEPT = "ACCEPT";

  private static KafkaInput in(byte[] value) {
    return new KafkaInput(null, value, "t", 0, 0, 0);
  }

  private static Case json(String value, String expected) {
    return new Case(in(utf8(value)), expected);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Runs {@code cases} inputs from {@code make} through {@code d}; fails on anything but a valid
   * item or a rejection with a reason, and on an outcome other than the case expects. Returns how
   * many of each outcome ({@link #ACCEPT} or the reason's name) it saw.
   */
  private static Map<String, Integer> fuzz(String name, int cases, DecodeInstructions d, Function<Random, Case> make) {
    Random random = new Random(SEED ^ name.hashCode());
    Map<String, Integer> outcomes = new TreeMap<>();
    long slowest = 0;
    for (int i = 0; i < cases; i++) {
      Case c = make.apply(random);
      c.in().offset = i;
      String outcome = outcome(name + " case " + i, d, c.in());
      slowest = Math.max(slowest, lastNanos);
      int at = i;
      if (c.expected() != null) {
        assertEquals(c.expected(), outcome.split(":", 2)[0], () -> name + " case " + at + " (seed " + SEED + "): "
            + outcome + " for " + show(c.in().value));
      }
      if (c.adapterId() != null && outcome.startsWith(ACCEPT)) {
        assertEquals(ACCEPT + ": " + c.adapterId(), outcome, () -> name + " case " + at + " (seed " + SEED + "): "
            + show(c.in().value));
      }
      outcomes.merge(outcome.split(":", 2)[0], 1, Integer::sum);
    }
    // for the reader, never asserted: the slowest single record of the run
    System.out.printf("%s: %s (slowest record %.1f ms)%n", name, outcomes, slowest / 1e6);
    return outcomes;
  }

  private static long lastNanos;

  /** {@code ACCEPT} or {@code REASON: message}; fails on anything else. Checks what an accepted item holds. */
  private static String outcome(String what, DecodeInstructions d, KafkaInput in) {
    long start = System.nanoTime();
    try {
      TrainingItem item = d.decode(in);
      lastNanos = System.nanoTime() - start;
      assertTrue(AdapterIds.isValid(item.adapterId), "accepted adapter id '" + item.adapterId + "'");
      assertTrue(item.inputIds.length > 0 && item.inputIds.length == item.labels.length);
      for (int id : item.inputIds) {
        assertTrue(id >= 0 && id < vocab, "token id " + id);
      }
      assertTrue(Arrays.stream(item.labels).anyMatch(l -> l >= 0), "an item with no target");
      assertTrue(item.weight > 0 && Float.isFinite(item.weight), "weight " + item.weight);
      return ACCEPT + ": " + item.adapterId;
    } catch (Rejected r) {
      lastNanos = System.nanoTime() - start;
      assertTrue(r.reason() != null && r.getMessage() != null && r.getMessage().length() < 1000, r.getMessage());
      return r.reason().name() + ": " + r.getMessage();
    } catch (Throwable t) {
      return fail(what + " (seed " + SEED + "): " + t + " for " + show(in.value), t);
    }
  }

  private static String show(byte[] value) {
    String s = new String(value, 0, Math.min(value.length, 120), StandardCharsets.UTF_8);
    return value.length + " bytes: " + printable(s) + (value.length > 120 ? "..." : "");
  }

  /** {@code s} in one line of printable ASCII: anything else as a Java escape. */
  private static String printable(String s) {
    StringBuilder b = new StringBuilder();
    for (char c : s.toCharArray()) {
      b.append(c >= 0x20 && c < 0x7F ? String.valueOf(c) : String.format("\\u%04x", (int) c));
    }
    return b.toString();
  }

  // ---------------------------------------------------------------- a JSON writer of the test's own

  /** A JSON value: an object (fields in order, duplicates allowed), list, string, raw number or literal. */
  private sealed interface J {}

  private record Obj(List<Map.Entry<String, J>> fields) implements J {
    static Obj of(Object... nameValue) {
      List<Map.Entry<String, J>> f = new ArrayList<>();
      for (int i = 0; i < nameValue.length; i += 2) {
        f.add(Map.entry((String) nameValue[i], (J) nameValue[i + 1]));
      }
      return new Obj(f);
    }

    Obj with(String name, J value) {
      List<Map.Entry<String, J>> f = new ArrayList<>(fields);
      f.add(Map.entry(name, value));
      return new Obj(f);
    }
  }

  private record Arr(List<J> items) implements J {}

  private record Str(String value) implements J {}

  /** A number or {@code true}, {@code false}, {@code null}, written as it is. */
  private record Raw(String text) implements J {}

  private static final Raw NULL = new Raw("null");

  private static Str s(String v) {
    return new Str(v);
  }

  private static Arr arr(J... items) {
    return new Arr(List.of(items));
  }

  /** {@code v} as JSON text, with random whitespace and random (valid) choices of escapes. */
  private static String write(J v, Random r) {
    StringBuilder b = new StringBuilder();
    write(v, r, b);
    return b.toString();
  }

  private static void write(J v, Random r, StringBuilder b) {
    if (v instanceof Obj o) {
      b.append('{').append(ws(r));
      for (int i = 0; i < o.fields().size(); i++) {
        if (i > 0) {
          b.append(',').append(ws(r));
        }
        quote(o.fields().get(i).getKey(), r, b);
        b.append(ws(r)).append(':').append(ws(r));
        write(o.fields().get(i).getValue(), r, b);
        b.append(ws(r));
      }
      b.append('}');
    } else if (v instanceof Arr a) {
      b.append('[').append(ws(r));
      for (int i = 0; i < a.items().size(); i++) {
        if (i > 0) {
          b.append(ws(r)).append(',').append(ws(r));
        }
        write(a.items().get(i), r, b);
      }
      b.append(ws(r)).append(']');
    } else if (v instanceof Str x) {
      quote(x.value(), r, b);
    } else {
      b.append(((Raw) v).text());
    }
  }

  private static String ws(Random r) {
    return switch (r.nextInt(8)) {
      case 0 -> " ";
      case 1 -> "\n  ";
      case 2 -> "\t";
      case 3 -> "\r\n";
      default -> "";
    };
  }

  /** RFC 8259 string escaping, each character written in one of its valid forms at random. */
  private static void quote(String s, Random r, StringBuilder b) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean u = r.nextInt(6) == 0; // any character may be written as \\uXXXX
      if (c == '"' || c == '\\') {
        b.append(u ? String.format("\\u%04x", (int) c) : "\\" + c);
      } else if (c < 0x20) {
        String shortForm = switch (c) {
          case '\n' -> "\\n";
          case '\t' -> "\\t";
          case '\r' -> "\\r";
          case '\b' -> "\\b";
          case '\f' -> "\\f";
          default -> null;
        };
        b.append(shortForm != null && !u ? shortForm : String.format("\\u%04X", (int) c));
      } else if (c == '/' && r.nextBoolean()) {
        b.append("\\/");
      } else if (Character.isHighSurrogate(c)) { // a pair: both halves escaped, or both as they are
        char low = s.charAt(++i);
        if (u || r.nextBoolean()) {
          b.append(String.format("\\u%04x\\u%04X", (int) c, (int) low));
        } else {
          b.append(c).append(low);
        }
      } else if (u || (c > 0x7F && r.nextInt(3) == 0)) {
        b.append(String.format(r.nextBoolean() ? "\\u%04x" : "\\u%04X", (int) c));
      } else {
        b.append(c);
      }
    }
    b.append('"');
  }

  // ---------------------------------------------------------------- valid records of every shape

  /** A valid record, and what the decoder must make of it. */
  private record Valid(Obj json, String adapterId, String exampleId, float weight, long eventTime,
      Supplier<Example> expected) {}

  private static final List<String> WORDS = List.of("Jack", "has", "a", "red", "ball", "the", "cat", "is", "big",
      "small", "What", "color", "yes");
  /** Text that JSON writes with escapes or as multi-byte UTF-8 (prompts only: a response is plain words). */
  private static final List<String> ODD = List.of("é", "日本", "😀", "\"quoted\"", "back\\slash", "a/b", "tab\there",
      "line\nbreak", "\u007F", "\u2028", "\u0001");

  private static String words(Random r, int n, boolean odd) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append(odd && r.nextInt(4) == 0 ? ODD.get(r.nextInt(ODD.size()))
          : WORDS.get(r.nextInt(WORDS.size())));
    }
    return b.toString();
  }

  /**
   * A record the decoder must accept, built to the documented rules of each shape independently of
   * the decoder: a valid adapter id (text or a whole number), short non-empty texts (so nothing is
   * truncated away at 64 tokens), token ids within the vocabulary with a target, a positive weight,
   * fields in random order, unknown fields besides.
   */
  private static Valid valid(Random r) {
    List<Map.Entry<String, J>> f = new ArrayList<>();
    Supplier<Example> expected; // tokenized only when asked for
    String system = r.nextInt(3) == 0 ? words(r, 1 + r.nextInt(2), true) : null;
    switch (r.nextInt(7)) {
      case 0 -> { // chat: content strings or lists of text parts; developer is system
        List<ChatMessage> m = new ArrayList<>();
        List<J> ms = new ArrayList<>();
        if (system != null) {
          m.add(new ChatMessage("system", system));
          ms.add(Obj.of("role", s(r.nextBoolean() ? "system" : "developer"), "content", content(r, system)));
        }
        int turns = 1 + r.nextInt(2);
        for (int t = 0; t < turns; t++) {
          String q = words(r, 1 + r.nextInt(4), true);
          String a = words(r, 1 + r.nextInt(3), false);
          m.add(new ChatMessage("user", q));
          m.add(new ChatMessage("assistant", a));
          ms.add(Obj.of("content", content(r, q), "role", s("user")));
          ms.add(Obj.of("role", s("assistant"), "content", content(r, a)));
        }
        f.add(Map.entry("messages", new Arr(ms)));
        if (r.nextInt(4) == 0) {
          f.add(Map.entry("tools", arr())); // an empty list of tools is no tools
        }
        expected = () -> encoder.chat(m);
      }
      case 1 -> { // sharegpt
        List<ChatMessage> m = new ArrayList<>();
        List<J> cs = new ArrayList<>();
        if (system != null) {
          m.add(new ChatMessage("system", system));
          f.add(Map.entry("system", s(system)));
        }
        String q = words(r, 1 + r.nextInt(4), true);
        String a = words(r, 1 + r.nextInt(3), false);
        m.add(new ChatMessage("user", q));
        m.add(new ChatMessage("assistant", a));
        cs.add(Obj.of("from", s(r.nextBoolean() ? "human" : "user"), "value", s(q)));
        cs.add(Obj.of("value", s(a), "from", s(r.nextBoolean() ? "gpt" : "assistant")));
        f.add(Map.entry("conversations", new Arr(cs)));
        expected = () -> encoder.chat(m);
      }
      case 2 -> { // alpaca: instruction, then a blank line and the input when there is one
        String instruction = words(r, 1 + r.nextInt(3), true);
        String input = r.nextInt(3) == 0 ? null : r.nextBoolean() ? words(r, 1 + r.nextInt(2), true) : "";
        String output = words(r, 1 + r.nextInt(3), false);
        f.add(Map.entry("instruction", s(instruction)));
        if (input != null) {
          f.add(Map.entry("input", s(input)));
        }
        f.add(Map.entry("output", s(output)));
        if (system != null) {
          f.add(Map.entry("system", s(system)));
        }
        String prompt = input == null || input.isEmpty() ? instruction : instruction + "\n\n" + input;
        expected = () -> encoder.promptResponse(system, prompt, output);
      }
      case 3, 4 -> { // prompt-completion, prompt-response
        String p = words(r, 1 + r.nextInt(5), true);
        String a = words(r, 1 + r.nextInt(3), false);
        f.add(Map.entry("prompt", s(p)));
        f.add(Map.entry(r.nextBoolean() ? "completion" : "response", s(a)));
        if (system != null) {
          f.add(Map.entry("system", s(system)));
        }
        expected = () -> encoder.promptResponse(system, p, a);
      }
      case 5 -> { // text
        String t = words(r, 1 + r.nextInt(8), false);
        f.add(Map.entry("text", s(t)));
        expected = () -> encoder.text(t);
      }
      default -> { // tokens
        int n = 2 + r.nextInt(38);
        int[] ids = new int[n];
        int[] labels = new int[n];
        List<J> is = new ArrayList<>();
        List<J> ls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          ids[i] = r.nextInt(vocab);
          labels[i] = i < n - 1 && r.nextInt(3) == 0 ? -100 : r.nextInt(vocab); // the last is a target
          is.add(new Raw(Integer.toString(ids[i])));
          ls.add(new Raw(Integer.toString(labels[i])));
        }
        f.add(Map.entry("input_ids", new Arr(is)));
        f.add(Map.entry("labels", new Arr(ls)));
        expected = () -> encoder.tokens(ids, labels);
      }
    }
    String adapterId;
    if (r.nextInt(4) == 0) { // a whole number is an adapter id too
      long n = r.nextBoolean() ? r.nextInt(100_000) : r.nextLong();
      adapterId = Long.toString(n);
      f.add(Map.entry("adapter_id", new Raw(adapterId)));
    } else {
      adapterId = r.nextBoolean() ? "adapter-" + r.nextInt(1000) : "A.b_c-" + (char) ('a' + r.nextInt(26));
      f.add(Map.entry("adapter_id", s(adapterId)));
    }
    String exampleId = null;
    switch (r.nextInt(3)) {
      case 0 -> {
        exampleId = "e" + r.nextInt();
        f.add(Map.entry("example_id", s(exampleId)));
      }
      case 1 -> {
        exampleId = Integer.toString(r.nextInt(1 << 30));
        f.add(Map.entry("example_id", new Raw(exampleId)));
      }
      default -> { }
    }
    float weight = 1f;
    if (r.nextInt(3) == 0) {
      weight = 0.25f + r.nextInt(8);
      f.add(Map.entry("weight", r.nextBoolean() ? new Raw(Float.toString(weight)) : s(" " + weight)));
    }
    long eventTime = Long.MIN_VALUE;
    if (r.nextInt(3) == 0) {
      eventTime = 1_700_000_000_000L + r.nextInt(1 << 30);
      f.add(Map.entry("event_time", r.nextBoolean() ? new Raw(Long.toString(eventTime))
          : s(Instant.ofEpochMilli(eventTime).toString())));
    }
    if (r.nextInt(3) == 0) { // fields no shape reads are ignored
      f.add(Map.entry("meta", Obj.of("source", s("fuzz"), "tags", arr(s("x"), new Raw("1"), NULL, new Raw("true")),
          "nested", Obj.of("depth", arr(arr(arr()))))));
    }
    Collections.shuffle(f, r);
    return new Valid(new Obj(f), adapterId, exampleId, weight, eventTime, expected);
  }

  /** A message's content: the string, or the same split into text parts. */
  private static J content(Random r, String text) {
    if (r.nextBoolean()) {
      return s(text);
    }
    List<J> parts = new ArrayList<>();
    int at = 0;
    while (at < text.length()) {
      int end = Math.min(text.length(), at + 1 + r.nextInt(8));
      if (end < text.length() && Character.isHighSurrogate(text.charAt(end - 1))) {
        end++; // never split a surrogate pair
      }
      parts.add(Obj.of("type", s("text"), "text", s(text.substring(at, end))));
      at = end;
    }
    return new Arr(parts);
  }

  @Test
  void validRecordsOfEveryShapeAllDecodeToWhatTheySay() {
    Random r = new Random(SEED);
    for (int i = 0; i < 2000; i++) {
      Valid v = valid(r);
      String text = write(v.json(), r);
      KafkaInput in = new KafkaInput(null, utf8(text), "t", 0, i, 0);
      String what = "valid record " + i + " (seed " + SEED + "): " + printable(text);
      TrainingItem item;
      try {
        item = plain.decode(in);
      } catch (Rejected e) {
        throw new AssertionError(what + " refused: " + e.reason() + ": " + e.getMessage(), e);
      }
      assertEquals(v.adapterId(), item.adapterId, "adapter id of " + what);
      assertEquals(v.exampleId() == null ? "t/0/" + i : v.exampleId(), item.exampleId, "example id of " + what);
      assertEquals(v.weight(), item.weight, "weight of " + what);
      assertEquals(v.eventTime(), item.eventTime, "event time of " + what);
      Example expected = v.expected().get();
      assertArrayEquals(expected.inputIds(), item.inputIds, "tokens of " + what);
      assertArrayEquals(expected.labels(), item.labels, "labels of " + what);
    }
  }

  // ---------------------------------------------------------------- random and mutated bytes

  @Test
  void randomBytes() {
    Map<String, Integer> seen = fuzz("randomBytes", 3000, plain, r -> {
      byte[] v = new byte[r.nextInt(4000)];
      r.nextBytes(v);
      if (v.length > 0 && r.nextBoolean()) { // half of them look like the start of an object
        v[0] = '{';
      }
      return new Case(in(v), "NOT_JSON");
    });
    assertEquals(3000, seen.get("NOT_JSON"), seen.toString());
  }

  @Test
  void mutatedValidRecords() {
    Map<String, Integer> seen = fuzz("mutated", 3000, plain, r -> {
      byte[] v = utf8(write(valid(r).json(), r));
      int i = r.nextInt(v.length);
      return switch (r.nextInt(6)) {
        case 0 -> new Case(in(v), ACCEPT); // unmutated
        case 1 -> { // a byte flipped
          v[i] = (byte) r.nextInt(256);
          yield new Case(in(v), null);
        }
        case 2 -> new Case(in(Arrays.copyOf(v, i)), "NOT_JSON"); // truncated: an object never ends early
        case 3 -> { // garbage inserted
          byte[] g = new byte[1 + r.nextInt(16)];
          r.nextBytes(g);
          yield new Case(in(concat(Arrays.copyOf(v, i), g, Arrays.copyOfRange(v, i, v.length))), null);
        }
        case 4 -> { // a brace, bracket or quote deleted: never valid JSON any more
          List<Integer> at = new ArrayList<>();
          for (int k = 0; k < v.length; k++) {
            if (v[k] == '{' || v[k] == '}' || v[k] == '[' || v[k] == ']') {
              at.add(k);
            }
          }
          int k = at.get(r.nextInt(at.size()));
          yield new Case(in(concat(Arrays.copyOf(v, k), Arrays.copyOfRange(v, k + 1, v.length))), "NOT_JSON");
        }
        default -> // a second value after the object: trailing content is refused, not ignored
            new Case(in(concat(v, utf8(r.nextBoolean() ? " {}" : "x"))), "NOT_JSON");
      };
    });
    // a sixth are valid and unmutated; flips and garbage inside strings and whitespace keep some valid
    assertTrue(seen.getOrDefault(ACCEPT, 0) > 400, seen.toString());
    assertTrue(seen.getOrDefault("NOT_JSON", 0) > 1800, seen.toString());
  }

  @Test
  void valuesReplacedByNullsAndWrongTypes() {
    List<J> replacements = List.of(NULL, new Raw("true"), new Raw("0"), new Raw("-1"), new Raw("1e999999"),
        new Raw("1.5"), s(""), s(" "), arr(), arr(NULL), Obj.of(), Obj.of("a", NULL));
    Map<String, Integer> seen = fuzz("replaced", 3000, plain, r -> {
      Valid v = valid(r);
      J mutated = replaceOne(v.json(), r, replacements);
      return new Case(in(utf8(write(mutated, r))), null);
    });
    assertTrue(seen.getOrDefault(ACCEPT, 0) > 100 && seen.getOrDefault("MISSING_FIELD", 0) > 300
        && seen.getOrDefault("INVALID_ADAPTER_ID", 0) > 50, seen.toString());
    assertTrue(Set.of(ACCEPT, "MISSING_FIELD", "INVALID_ADAPTER_ID", "INVALID_WEIGHT", "INVALID_EVENT_TIME",
        "INVALID_TOKENS", "EMPTY_RESPONSE", "UNKNOWN_ROLE", "UNSUPPORTED_CONTENT", "NOT_JSON").containsAll(seen.keySet()),
        seen.toString());
  }

  /** {@code j} with one value somewhere inside it (never the root) replaced by one of {@code with}. */
  private static J replaceOne(J j, Random r, List<J> with) {
    List<J> all = new ArrayList<>();
    collect(j, all);
    J target = all.get(1 + r.nextInt(all.size() - 1));
    return replace(j, target, with.get(r.nextInt(with.size())));
  }

  private static void collect(J j, List<J> out) {
    out.add(j);
    if (j instanceof Obj o) {
      o.fields().forEach(e -> collect(e.getValue(), out));
    } else if (j instanceof Arr a) {
      a.items().forEach(x -> collect(x, out));
    }
  }

  private static J replace(J j, J target, J by) {
    if (j == target) {
      return by;
    }
    if (j instanceof Obj o) {
      List<Map.Entry<String, J>> f = new ArrayList<>();
      o.fields().forEach(e -> f.add(Map.entry(e.getKey(), replace(e.getValue(), target, by))));
      return new Obj(f);
    }
    if (j instanceof Arr a) {
      return new Arr(a.items().stream().map(x -> replace(x, target, by)).toList());
    }
    return j;
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      b.writeBytes(p);
    }
    return b.toByteArray();
  }

  // ---------------------------------------------------------------- hostile structure

  private static final String OK = "\"adapter_id\": \"a\", \"prompt\": \"What color is the ball?\", \"response\": \"Red.\"";

  /** Named inputs and their reasons, at the default limits (1 MiB a record, 256 messages, 256 Ki characters). */
  @Test
  void hostileStructureIsRefusedForItsReason() {
    Map<String, Case> cases = new LinkedHashMap<>();
    // nesting: refused by the reader's depth cap, never by the stack; just under the cap is fine
    cases.put("100k [", json("[".repeat(100_000), "NOT_JSON"));
    cases.put("1M [", json("[".repeat((1 << 20) - 1), "NOT_JSON"));
    cases.put("100k {\"a\":", json("{\"a\":".repeat(100_000), "NOT_JSON"));
    cases.put("100k nested objects, closed", json("{\"a\":".repeat(100_000) + "1" + "}".repeat(100_000), "NOT_JSON"));
    cases.put("messages nested 100k deep", json("{" + OK + ", \"messages\": " + "[".repeat(100_000), "NOT_JSON"));
    cases.put("meta nested 100k deep, closed", json("{" + OK + ", \"meta\": " + "[".repeat(100_000) + "]".repeat(100_000)
        + "}", "NOT_JSON"));
    cases.put("meta nested to the cap", json("{" + OK + ", \"meta\": " + "[".repeat(JsonDecoder.MAX_DEPTH - 1)
        + "]".repeat(JsonDecoder.MAX_DEPTH - 1) + "}", ACCEPT));
    cases.put("adapter id nested to the cap", json("{" + OK.replace("\"a\"", "[".repeat(JsonDecoder.MAX_DEPTH - 1)
        + "]".repeat(JsonDecoder.MAX_DEPTH - 1)) + "}", "INVALID_ADAPTER_ID"));
    // numbers
    cases.put("weight 1e999999", json("{" + OK + ", \"weight\": 1e999999}", "INVALID_WEIGHT"));
    cases.put("weight -1e999999", json("{" + OK + ", \"weight\": -1e999999}", "INVALID_WEIGHT"));
    cases.put("weight 1e-999999", json("{" + OK + ", \"weight\": 1e-999999}", "INVALID_WEIGHT"));
    cases.put("weight of 90 digits", json("{" + OK + ", \"weight\": 1" + "0".repeat(89) + "}", "INVALID_WEIGHT"));
    cases.put("weight of 10k digits", json("{" + OK + ", \"weight\": 1" + "0".repeat(9_999) + "}", "NOT_JSON"));
    cases.put("weight NaN", json("{" + OK + ", \"weight\": NaN}", "NOT_JSON"));
    cases.put("weight Infinity", json("{" + OK + ", \"weight\": Infinity}", "NOT_JSON"));
    cases.put("weight 0x10", json("{" + OK + ", \"weight\": 0x10}", "NOT_JSON"));
    cases.put("weight 01", json("{" + OK + ", \"weight\": 01}", "NOT_JSON"));
    cases.put("token id 1e999999", json("{\"adapter_id\": \"a\", \"input_ids\": [1, 1e999999], \"labels\": [1, 2]}",
        "INVALID_TOKENS"));
    cases.put("token id 2^31", json("{\"adapter_id\": \"a\", \"input_ids\": [1, 2147483648], \"labels\": [1, 2]}",
        "INVALID_TOKENS"));
    cases.put("token id 2.0", json("{\"adapter_id\": \"a\", \"input_ids\": [1, 2.0], \"labels\": [1, 2]}",
        "INVALID_TOKENS"));
    cases.put("10k token ids of 99 digits", json("{\"adapter_id\": \"a\", \"input_ids\": ["
        + String.join(",", Collections.nCopies(10_000, "9".repeat(99))) + "], \"labels\": [1]}", "INVALID_TOKENS"));
    cases.put("event time 1e999999", json("{" + OK + ", \"event_time\": 1e999999}", "INVALID_EVENT_TIME"));
    cases.put("event time of 40 digits", json("{" + OK + ", \"event_time\": " + "9".repeat(40) + "}",
        "INVALID_EVENT_TIME"));
    // numbers, booleans and structures as adapter ids: whole numbers only
    cases.put("adapter id 42", json("{" + OK.replace("\"a\"", "42") + "}", ACCEPT));
    cases.put("adapter id -7", json("{" + OK.replace("\"a\"", "-7") + "}", ACCEPT));
    cases.put("adapter id of 40 digits", json("{" + OK.replace("\"a\"", "9".repeat(40)) + "}", ACCEPT));
    cases.put("adapter id 1.5", json("{" + OK.replace("\"a\"", "1.5") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id 1e2", json("{" + OK.replace("\"a\"", "1e2") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id 1e999999", json("{" + OK.replace("\"a\"", "1e999999") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id -0.0", json("{" + OK.replace("\"a\"", "-0.0") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id true", json("{" + OK.replace("\"a\"", "true") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id false", json("{" + OK.replace("\"a\"", "false") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id null", json("{" + OK.replace("\"a\"", "null") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id []", json("{" + OK.replace("\"a\"", "[]") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id {}", json("{" + OK.replace("\"a\"", "{}") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id [\"a\"]", json("{" + OK.replace("\"a\"", "[\"a\"]") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id \\u0000", json("{" + OK.replace("\"a\"", "\"a\\u0000\"") + "}", "INVALID_ADAPTER_ID"));
    cases.put("adapter id 129 chars", json("{" + OK.replace("\"a\"", "\"" + "x".repeat(129) + "\"") + "}",
        "INVALID_ADAPTER_ID"));
    // long strings and names
    cases.put("text of 300k chars", json("{\"adapter_id\": \"a\", \"text\": \"" + "ab ".repeat(100_000) + "\"}",
        "TEXT_TOO_LONG"));
    cases.put("text of 1 MiB", json("{\"adapter_id\": \"a\", \"text\": \"" + "a".repeat(1 << 20) + "\"}",
        "RECORD_TOO_LARGE"));
    cases.put("text of 100k escapes", json("{\"adapter_id\": \"a\", \"text\": \"" + "\\u0041".repeat(100_000) + "\"}",
        ACCEPT));
    cases.put("field name of 100k chars", json("{" + OK + ", \"" + "n".repeat(100_000) + "\": 1}", "NOT_JSON"));
    cases.put("30k unknown fields", json("{" + OK + fields(30_000) + "}", ACCEPT));
    // duplicate keys: refused, never first-wins or last-wins
    cases.put("duplicate adapter id", json("{" + OK + ", \"adapter_id\": \"b\"}", "NOT_JSON"));
    cases.put("duplicate prompt", json("{" + OK + ", \"prompt\": \"Hi\"}", "NOT_JSON"));
    cases.put("duplicate key in a message", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": \"user\", "
        + "\"role\": \"assistant\", \"content\": \"Hi\"}]}", "NOT_JSON"));
    cases.put("duplicate key in meta", json("{" + OK + ", \"meta\": {\"x\": 1, \"x\": 2}}", "NOT_JSON"));
    // nulls everywhere
    cases.put("null", json("null", "NOT_JSON"));
    cases.put("null prompt", json("{" + OK.replace("\"What color is the ball?\"", "null") + "}", "MISSING_FIELD"));
    cases.put("null response", json("{" + OK.replace("\"Red.\"", "null") + "}", "MISSING_FIELD"));
    cases.put("null messages besides a prompt", json("{" + OK + ", \"messages\": null}", ACCEPT));
    cases.put("null weight, example id, event time, system", json("{" + OK + ", \"weight\": null, \"example_id\": null, "
        + "\"event_time\": null, \"system\": null}", ACCEPT));
    cases.put("a null message", json("{\"adapter_id\": \"a\", \"messages\": [null]}", "MISSING_FIELD"));
    cases.put("a null role", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": null, \"content\": \"x\"}]}",
        "MISSING_FIELD"));
    cases.put("a null content", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": null}]}",
        "MISSING_FIELD"));
    cases.put("a null text part", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": [null]}]}",
        "UNSUPPORTED_CONTENT"));
    cases.put("null token ids", json("{\"adapter_id\": \"a\", \"input_ids\": [null], \"labels\": [1]}", "INVALID_TOKENS"));
    // encodings: UTF-8 only (a UTF-8 byte order mark is allowed)
    cases.put("UTF-8 BOM", new Case(in(concat(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, utf8("{" + OK + "}"))),
        ACCEPT));
    cases.put("UTF-16BE BOM", new Case(in(concat(new byte[] {(byte) 0xFE, (byte) 0xFF},
        ("{" + OK + "}").getBytes(StandardCharsets.UTF_16BE))), "NOT_JSON"));
    cases.put("UTF-16LE BOM", new Case(in(concat(new byte[] {(byte) 0xFF, (byte) 0xFE},
        ("{" + OK + "}").getBytes(StandardCharsets.UTF_16LE))), "NOT_JSON"));
    cases.put("UTF-16LE", new Case(in(("{" + OK + "}").getBytes(StandardCharsets.UTF_16LE)), "NOT_JSON"));
    cases.put("UTF-16BE", new Case(in(("{" + OK + "}").getBytes(StandardCharsets.UTF_16BE)), "NOT_JSON"));
    cases.put("UTF-32BE", new Case(in(("{" + OK + "}").getBytes(java.nio.charset.Charset.forName("UTF-32BE"))),
        "NOT_JSON"));
    cases.put("UTF-32LE", new Case(in(("{" + OK + "}").getBytes(java.nio.charset.Charset.forName("UTF-32LE"))),
        "NOT_JSON"));
    cases.put("Latin-1 é", new Case(in(("{" + OK.replace("ball", "b\u00e9ll") + "}").getBytes(StandardCharsets.ISO_8859_1)),
        "NOT_JSON"));
    int n = 0;
    for (byte[] bad : List.of(new byte[] {(byte) 0xC0, (byte) 0x80}, new byte[] {(byte) 0xC1, (byte) 0xBF},
        new byte[] {(byte) 0xE0, (byte) 0x80, (byte) 0xAF}, new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80},
        new byte[] {(byte) 0xED, (byte) 0xBF, (byte) 0xBF}, new byte[] {(byte) 0xF0, (byte) 0x80, (byte) 0x80, (byte) 0xAF},
        new byte[] {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, new byte[] {(byte) 0xF5, (byte) 0x80, (byte) 0x80, (byte) 0x80},
        new byte[] {(byte) 0xF8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80}, new byte[] {(byte) 0xFE},
        new byte[] {(byte) 0xFF}, new byte[] {(byte) 0x80}, new byte[] {(byte) 0xC3}, new byte[] {(byte) 0xE2, (byte) 0x82})) {
      // overlong forms, encoded surrogates, beyond U+10FFFF, lone continuation and cut sequences
      cases.put("invalid UTF-8 #" + n++ + " in the prompt", new Case(in(concat(utf8("{\"adapter_id\": \"a\", \"prompt\": \"x"),
          bad, utf8("y\", \"response\": \"Red.\"}"))), "NOT_JSON"));
    }
    cases.put("raw NUL in a string", new Case(in(utf8("{" + OK.replace("ball", "b\u0000ll") + "}")), "NOT_JSON"));
    cases.put("raw NUL outside strings", new Case(in(utf8("{" + OK + "}\u0000")), "NOT_JSON"));
    cases.put("raw NUL first", new Case(in(utf8("\u0000{" + OK + "}")), "NOT_JSON"));
    cases.put("raw newline in a string", new Case(in(utf8("{" + OK.replace("ball", "b\nll") + "}")), "NOT_JSON"));
    cases.put("escaped NUL in the prompt", json("{" + OK.replace("ball", "b\\u0000ll") + "}", ACCEPT));
    // lone surrogates are not text: refused, never passed to the tokenizer
    cases.put("lone high surrogate escape", json("{" + OK.replace("ball", "b\\ud800ll") + "}", "NOT_JSON"));
    cases.put("lone low surrogate escape", json("{" + OK.replace("ball", "b\\udc00ll") + "}", "NOT_JSON"));
    cases.put("reversed surrogate pair", json("{" + OK.replace("ball", "b\\ude00\\ud83dll") + "}", "NOT_JSON"));
    cases.put("high surrogate at the end", json("{" + OK.replace("Red.", "Red\\ud83d") + "}", "NOT_JSON"));
    cases.put("lone surrogate in a text part", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": \"user\", "
        + "\"content\": [{\"type\": \"text\", \"text\": \"\\udfff\"}]}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}",
        "NOT_JSON"));
    cases.put("lone surrogate in a field name", json("{" + OK + ", \"\\ud800\": 1}", "NOT_JSON"));
    cases.put("surrogate pair escape", json("{" + OK.replace("ball", "b\\ud83d\\ude00ll") + "}", ACCEPT));
    cases.put("bad escape", json("{" + OK.replace("ball", "b\\xll") + "}", "NOT_JSON"));
    cases.put("short escape", json("{" + OK.replace("ball", "b\\u12") + "}", "NOT_JSON"));
    // messages and text beyond the limits, and records that are not objects
    String m = "{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}";
    cases.put("257 messages", json("{\"adapter_id\": \"a\", \"messages\": [" + String.join(",", Collections.nCopies(128, m))
        + ", {\"role\": \"user\", \"content\": \"Hi\"}]}", "TOO_MANY_MESSAGES"));
    cases.put("256 messages", json("{\"adapter_id\": \"a\", \"messages\": [" + String.join(",", Collections.nCopies(128, m))
        + "]}", ACCEPT));
    cases.put("20k messages", json("{\"adapter_id\": \"a\", \"messages\": [" + String.join(",", Collections.nCopies(10_000, m))
        + "]}", "TOO_MANY_MESSAGES"));
    cases.put("20k sharegpt turns", json("{\"adapter_id\": \"a\", \"conversations\": [" + String.join(",",
        Collections.nCopies(10_000, "{\"from\": \"human\", \"value\": \"Hi\"}, {\"from\": \"gpt\", \"value\": \"Yo\"}"))
        + "]}", "TOO_MANY_MESSAGES"));
    cases.put("9k text parts", json("{\"adapter_id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": ["
        + String.join(",", Collections.nCopies(9_000, "{\"type\": \"text\", \"text\": \"" + "ab ".repeat(10) + "\"}"))
        + "]}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}", "TEXT_TOO_LONG"));
    cases.put("text at the limit", json("{\"adapter_id\": \"a\", \"text\": \"" + "a ".repeat(1 << 16) + "\"}", ACCEPT));
    cases.put("prompt beyond the limit", json("{\"adapter_id\": \"a\", \"prompt\": \"" + "a ".repeat(1 << 17)
        + "\", \"response\": \"b\"}", "TEXT_TOO_LONG"));
    cases.put("an array", json("[{" + OK + "}]", "NOT_JSON"));
    cases.put("a string", json("\"{}\"", "NOT_JSON"));
    cases.put("a number", json("42", "NOT_JSON"));
    cases.put("whitespace", json(" \n\t ", "NOT_JSON"));
    cases.put("two objects", json("{" + OK + "}{" + OK + "}", "NOT_JSON"));
    cases.put("a comment", json("{" + OK + "} // x", "NOT_JSON"));
    cases.put("single quotes", json("{'adapter_id': 'a', 'text': 'b'}", "NOT_JSON"));
    cases.put("trailing comma", json("{" + OK + ",}", "NOT_JSON"));

    Map<String, Integer> seen = new TreeMap<>();
    long slowest = 0;
    String slowestName = "";
    for (var e : cases.entrySet()) {
      String outcome = outcome(e.getKey(), roomy, e.getValue().in());
      if (lastNanos > slowest) {
        slowest = lastNanos;
        slowestName = e.getKey();
      }
      assertEquals(e.getValue().expected(), outcome.split(":", 2)[0], e.getKey() + ": " + outcome);
      seen.merge(outcome.split(":", 2)[0], 1, Integer::sum);
    }
    System.out.printf("hostile: %s (slowest: %s, %.1f ms)%n", seen, slowestName, slowest / 1e6);
  }

  private static String fields(int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(", \"f").append(i).append("\": ").append(i);
    }
    return b.toString();
  }

  /** Invalid bytes inside a string: refused unless they happen to be UTF-8 text a JSON string may hold. */
  @Test
  void randomBytesInsideStrings() {
    Map<String, Integer> seen = fuzz("bytesInStrings", 2000, plain, r -> {
      byte[] garbage = new byte[1 + r.nextInt(r.nextBoolean() ? 4 : 200)];
      r.nextBytes(garbage);
      if (r.nextBoolean()) { // mostly high bytes: the multi-byte forms, valid and not
        for (int i = 0; i < garbage.length; i++) {
          garbage[i] |= (byte) 0x80;
        }
      }
      byte[] v = concat(utf8("{\"adapter_id\": \"a\", \"prompt\": \"x"), garbage, utf8("\", \"response\": \"Red.\"}"));
      return new Case(in(v), isJsonStringContent(garbage) ? ACCEPT : "NOT_JSON");
    });
    assertTrue(seen.getOrDefault("NOT_JSON", 0) > 1000 && seen.getOrDefault(ACCEPT, 0) > 20, seen.toString());
  }

  /**
   * Whether {@code b} is well-formed UTF-8 (RFC 3629: shortest forms, no surrogates, at most
   * U+10FFFF) that may stand inside a JSON string as it is (no quote, backslash or control character).
   * Written out here, apart from any decoder the project uses.
   */
  private static boolean isJsonStringContent(byte[] b) {
    int i = 0;
    while (i < b.length) {
      int c = b[i] & 0xFF;
      int n;
      int min;
      if (c < 0x80) {
        if (c < 0x20 || c == '"' || c == '\\') {
          return false;
        }
        i++;
        continue;
      } else if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
        min = 0x80;
      } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        min = 0x800;
      } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        min = 0x10000;
      } else {
        return false;
      }
      if (i + n >= b.length) {
        return false;
      }
      int cp = c & (0x3F >> n);
      for (int k = 1; k <= n; k++) {
        int d = b[i + k] & 0xFF;
        if ((d & 0xC0) != 0x80) {
          return false;
        }
        cp = (cp << 6) | (d & 0x3F);
      }
      if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return false;
      }
      i += n + 1;
    }
    return true;
  }

  // ---------------------------------------------------------------- field mappings, dotted paths

  /**
   * An input that reads prompt and response from a nested object and the adapter and example ids
   * from dotted paths, fed records whose structure is random around those paths: only a record
   * that holds text at both mapped paths and an id at the adapter's is accepted, and a literal key
   * with a dot in its name is never the dotted path.
   */
  @Test
  void adversarialFieldMappingsAndDottedPaths() {
    DecodeInstructions mapped = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .fields(FieldNames.of(Map.of("prompt", "payload.q", "response", "payload.a")))
        .adapterId(new ValueSource.Field("meta.tenant.id")).exampleId(new ValueSource.Field("meta.id"))
        .weight(new ValueSource.Field("meta.w")).build(), LIMITS);
    Map<String, Integer> seen = fuzz("mapped", 3000, mapped, r -> {
      J q = pick(r, s(words(r, 1 + r.nextInt(4), true)));
      J a = pick(r, s(words(r, 1 + r.nextInt(3), false)));
      J id = pick(r, r.nextBoolean() ? s("tenant-" + r.nextInt(100)) : new Raw(Integer.toString(r.nextInt(100))));
      // now and then an object, list, number or null where the path expects an object
      boolean payloadOk = r.nextInt(8) > 0;
      boolean tenantOk = r.nextInt(8) > 0;
      boolean metaOk = r.nextInt(8) > 0;
      J payload = payloadOk ? shuffled(r, "q", q, "a", a, "x.y", s("z")) : pick(r, NULL);
      J tenant = tenantOk ? shuffled(r, "id", id) : pick(r, NULL);
      J w = pick(r, new Raw("2"));
      J meta = metaOk ? shuffled(r, "tenant", tenant, "id", pick(r, s("e1")), "w", w) : pick(r, NULL);
      List<Object> top = new ArrayList<>(List.of("payload", payload, "meta", meta));
      if (r.nextInt(4) == 0) { // the dotted names as literal keys: never read as the paths
        top.addAll(List.of("payload.q", s("literal"), "payload.a", s("literal"), "meta.tenant.id", s("literal")));
      }
      if (r.nextInt(4) == 0) { // the standard names at the top: not read, they are mapped away
        top.addAll(List.of("prompt", s("p"), "response", s("r"), "adapter_id", s("std")));
      }
      Obj record = shuffled(r, top.toArray());
      // the order the decoder reads them in: the shape's fields, the adapter id, the weight
      String expected = !(payloadOk && q instanceof Str && a instanceof Str) ? "MISSING_FIELD"
          : !(metaOk && tenantOk && isId(id)) ? "INVALID_ADAPTER_ID"
          : !(w == NULL || w instanceof Raw x && x.text().matches("[0-9.]+")) ? "INVALID_WEIGHT" : ACCEPT;
      return new Case(in(utf8(write(record, r))), expected,
          id instanceof Str x ? x.value() : id instanceof Raw x ? x.text() : null);
    });
    assertTrue(seen.getOrDefault(ACCEPT, 0) > 300 && seen.getOrDefault("MISSING_FIELD", 0) > 300
        && seen.getOrDefault("INVALID_ADAPTER_ID", 0) > 300, seen.toString());
  }

  private static boolean isId(J id) {
    return id instanceof Str || (id instanceof Raw x && x.text().matches("-?[0-9]+"));
  }

  /** {@code v} most of the time, else a value of a wrong type (or absent: null). */
  private static J pick(Random r, J v) {
    return switch (r.nextInt(20)) {
      case 0 -> NULL;
      case 1 -> new Raw("1.5");
      case 2 -> new Raw("true");
      case 3 -> arr(v);
      case 4 -> Obj.of("q", v);
      default -> v;
    };
  }

  private static Obj shuffled(Random r, Object... nameValue) {
    List<Map.Entry<String, J>> f = new ArrayList<>(Obj.of(nameValue).fields());
    Collections.shuffle(f, r);
    return new Obj(f);
  }

  // ---------------------------------------------------------------- keys and headers

  private static final List<String> WEIGHTS = List.of("2", " 0.5 ", "1e999", "-1", "0", "NaN", "Infinity", "heavy", "");

  /**
   * The adapter id from the key, the weight and example id from headers, each random bytes, text
   * or a valid value: a value that is not UTF-8 is refused for the value it was to be, in the order
   * the decoder reads them (adapter id, weight, example id).
   */
  @Test
  void keysAndHeadersThatAreNotUtf8() {
    DecodeInstructions keyed = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .adapterId(new ValueSource.Key()).weight(new ValueSource.Header("x-weight"))
        .exampleId(new ValueSource.Header("x-id")).build(), LIMITS);
    byte[] value = utf8("{\"prompt\": \"What color is the ball?\", \"response\": \"Red.\", \"adapter_id\": \"ignored\"}");
    Map<String, Integer> seen = fuzz("keysAndHeaders", 3000, keyed, r -> {
      byte[] key = bytes(r, r.nextBoolean() ? "tenant-" + r.nextInt(100) : "tenant " + r.nextInt(9));
      int w = r.nextInt(WEIGHTS.size() + 1);
      byte[] weight = w == WEIGHTS.size() ? bytes(r, "1") : utf8(WEIGHTS.get(w));
      byte[] id = bytes(r, "example-" + r.nextInt());
      List<String> names = new ArrayList<>();
      List<byte[]> values = new ArrayList<>();
      if (r.nextInt(5) > 0) {
        names.add("x-weight");
        values.add(weight);
      }
      if (r.nextInt(5) > 0) {
        names.add("x-id");
        values.add(id);
      }
      KafkaInput in = new KafkaInput(r.nextInt(20) == 0 ? null : key, value, "t", 0, 0, 0)
          .withHeaders(names.toArray(new String[0]), values.toArray(new byte[0][]));
      String expected;
      if (in.key == null || !isUtf8(in.key) || !AdapterIds.isValid(new String(in.key, StandardCharsets.UTF_8))) {
        expected = "INVALID_ADAPTER_ID";
      } else if (names.contains("x-weight") && !(isUtf8(weight) && Set.of("2", " 0.5 ", "1").contains(
          new String(weight, StandardCharsets.UTF_8)))) {
        expected = "INVALID_WEIGHT";
      } else if (names.contains("x-id") && !isUtf8(id)) {
        expected = "INVALID_EXAMPLE_ID";
      } else {
        expected = ACCEPT;
      }
      return new Case(in, expected);
    });
    assertTrue(seen.getOrDefault(ACCEPT, 0) > 100 && seen.getOrDefault("INVALID_ADAPTER_ID", 0) > 1000
        && seen.getOrDefault("INVALID_WEIGHT", 0) > 200 && seen.getOrDefault("INVALID_EXAMPLE_ID", 0) > 50, seen.toString());
  }

  /** {@code text}'s UTF-8 half the time, else random bytes that start with a high byte (mostly not UTF-8). */
  private static byte[] bytes(Random r, String text) {
    if (r.nextBoolean()) {
      return utf8(text);
    }
    byte[] b = new byte[1 + r.nextInt(12)];
    r.nextBytes(b);
    b[0] |= (byte) 0x80; // never ASCII text: never a number, an id, or a weight by chance
    return b;
  }

  /** Whether {@code b} is well-formed UTF-8, whatever characters it holds. */
  private static boolean isUtf8(byte[] b) {
    byte[] printable = b.clone();
    for (int i = 0; i < printable.length; i++) {
      if ((printable[i] & 0xFF) < 0x20 || printable[i] == '"' || printable[i] == '\\') {
        printable[i] = 'x'; // control characters, quotes and backslashes are UTF-8 too
      }
    }
    return isJsonStringContent(printable);
  }
}
