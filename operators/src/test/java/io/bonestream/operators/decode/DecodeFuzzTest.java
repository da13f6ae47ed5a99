package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.bonestream.engine.TestFiles;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bad input at scale, at the decoder: random bytes, mutated and truncated records, wrong schema
 * fingerprints, adversarial adapter ids, invalid UTF-8, huge token ids, oversized and crowded
 * records, thousands of each from fixed seeds. Every input either becomes a valid training item or
 * is rejected with a reason; nothing else ever escapes. Valid records must decode (alone and as the
 * unmutated share of the mutation run), and inputs over a limit must be refused for that limit. A failure names the seed and case that
 * reproduce it.
 */
class DecodeFuzzTest {
  private static final long SEED = 20261127L;
  private static DecodeInstructions decoder;
  private static int vocab;

  @BeforeAll
  static void load() {
    SharedModels.Loaded m = SharedModels.acquire(TestFiles.stories260K());
    vocab = m.model().config().vocabSize();
    decoder = new DecodeInstructions(TestFiles.stories260K().toString(), 64, new InputLimits(16 << 10, 32, 8 << 10));
    decoder.prepare(m);
  }

  @AfterAll
  static void release() {
    SharedModels.release(TestFiles.stories260K());
  }

  /** An input and what must come of it: {@link #ACCEPT}, a reason's name, or null (either way). */
  private record Case(byte[] value, String expected) {}

  private static final String ACCEPT = "ACCEPT";

  /**
   * Runs {@code cases} inputs from {@code make}; fails on anything but a valid item or a rejection
   * with a reason, and on an outcome other than the case expects. Returns how many of each
   * outcome ({@link #ACCEPT} or the reason's name) it saw.
   */
  private static Map<String, Integer> fuzz(String name, int cases, Function<Random, Case> make) {
    Random random = new Random(SEED ^ name.hashCode());
    Map<String, Integer> outcomes = new TreeMap<>();
    for (int i = 0; i < cases; i++) {
      Case c = make.apply(random);
      byte[] value = c.value();
      KafkaInput in = new KafkaInput(null, value, "t", 0, i, 0);
      String outcome;
      String detail;
      try {
        TrainingItem item = decoder.decode(in);
        assertTrue(AdapterIds.isValid(item.adapterId), "accepted adapter id '" + item.adapterId + "'");
        assertTrue(item.inputIds.length > 0 && item.inputIds.length == item.labels.length);
        for (int id : item.inputIds) {
          assertTrue(id >= 0 && id < vocab, "token id " + id);
        }
        assertTrue(Arrays.stream(item.labels).anyMatch(l -> l >= 0), "an item with no target");
        assertTrue(item.weight > 0 && Float.isFinite(item.weight), "weight " + item.weight);
        outcome = ACCEPT;
        detail = "accepted";
      } catch (Rejected r) {
        assertTrue(r.reason() != null && r.getMessage() != null && r.getMessage().length() < 1000, r.getMessage());
        outcome = r.reason().name();
        detail = r.getMessage();
      } catch (Throwable t) {
        return fail(name + " case " + i + " (seed " + SEED + "): " + t + " for " + Arrays.toString(
            Arrays.copyOf(value, Math.min(64, value.length))), t);
      }
      if (c.expected() != null) {
        assertEquals(c.expected(), outcome, name + " case " + i + " (seed " + SEED + "): " + detail);
      }
      outcomes.merge(outcome, 1, Integer::sum);
    }
    System.out.println(name + ": " + outcomes);
    return outcomes;
  }

  /** Inputs whose outcome the case does not fix. */
  private static Case any(byte[] value) {
    return new Case(value, null);
  }

  private static byte[] encode(InstructionRecord r) {
    try {
      ByteBuffer b = InstructionRecord.getEncoder().encode(r);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static String text(Random r, int max) {
    StringBuilder b = new StringBuilder();
    int n = r.nextInt(max + 1);
    for (int i = 0; i < n; i++) {
      b.appendCodePoint(switch (r.nextInt(4)) {
        case 0 -> 'a' + r.nextInt(26);
        case 1 -> ' ';
        case 2 -> r.nextInt(0x80); // control characters too
        default -> r.nextInt(0x2FFFF); // any plane-0/1/2 code point, surrogates excluded below
      });
    }
    return b.toString().replaceAll("[\\uD800-\\uDFFF]", "?");
  }

  private static String adapterId(Random r) {
    return switch (r.nextInt(4)) {
      case 0 -> {
        String alphabet = "abcxyz019._-";
        StringBuilder b = new StringBuilder();
        int n = 1 + r.nextInt(140);
        for (int i = 0; i < n; i++) {
          b.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        yield b.toString();
      }
      case 1 -> text(r, 40);
      case 2 -> List.of(".", "..", "", "a/b", "../x", "a\u0000b", "\uFF41", "a b", "-".repeat(128), "x".repeat(129),
          "a\nb", "\u202Eab").get(r.nextInt(12));
      default -> "adapter-" + r.nextInt(1000);
    };
  }

  private static InstructionRecord record(Random r) {
    InstructionRecord.Builder b = InstructionRecord.newBuilder().setAdapterId(adapterId(r)).setExampleId(text(r, 10));
    switch (r.nextInt(3)) {
      case 0 -> b.setPrompt(text(r, 80)).setResponse(text(r, 40));
      case 1 -> {
        List<ChatMessage> m = new ArrayList<>();
        int n = r.nextInt(6);
        for (int i = 0; i < n; i++) {
          m.add(ChatMessage.newBuilder().setRole(List.of("user", "assistant", "system", "robot").get(r.nextInt(4)))
              .setContent(text(r, 30)).build());
        }
        b.setMessages(m);
      }
      default -> {
        List<Integer> ids = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int n = r.nextInt(40);
        for (int i = 0; i < n; i++) {
          ids.add(r.nextBoolean() ? r.nextInt(600) : r.nextInt());
          labels.add(r.nextInt(4) == 0 ? -100 : r.nextBoolean() ? r.nextInt(600) : r.nextInt());
        }
        b.setInputIds(ids).setLabels(r.nextInt(10) == 0 ? labels.subList(0, labels.size() / 2) : labels);
      }
    }
    if (r.nextInt(5) == 0) {
      b.setWeight(List.of(-1f, 0f, Float.NaN, Float.POSITIVE_INFINITY, 1e30f, 0.5f).get(r.nextInt(6)));
    }
    return b.build();
  }

  /**
   * A record the decoder must accept, built to the input rules independently of the decoder: a
   * valid adapter id, short non-empty text in one of the three shapes (so nothing is truncated
   * away at 64 tokens), token ids within the vocabulary with at least one target, a positive weight.
   */
  private static InstructionRecord validRecord(Random r) {
    String id = r.nextBoolean() ? "adapter-" + r.nextInt(1000) : "A.b_c-" + (char) ('a' + r.nextInt(26));
    InstructionRecord.Builder b = InstructionRecord.newBuilder().setAdapterId(id).setExampleId("e" + r.nextInt());
    switch (r.nextInt(3)) {
      case 0 -> b.setPrompt(words(r, 1 + r.nextInt(5))).setResponse(words(r, 1 + r.nextInt(3)));
      case 1 -> {
        List<ChatMessage> m = new ArrayList<>();
        if (r.nextBoolean()) {
          m.add(ChatMessage.newBuilder().setRole("system").setContent(words(r, 1 + r.nextInt(2))).build());
        }
        m.add(ChatMessage.newBuilder().setRole("user").setContent(words(r, 1 + r.nextInt(4))).build());
        m.add(ChatMessage.newBuilder().setRole("assistant").setContent(words(r, 1 + r.nextInt(3))).build());
        b.setMessages(m);
      }
      default -> {
        List<Integer> ids = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        int n = 2 + r.nextInt(38);
        for (int i = 0; i < n; i++) {
          ids.add(r.nextInt(vocab));
          labels.add(i < n - 1 && r.nextInt(3) == 0 ? -100 : r.nextInt(vocab)); // the last is a target
        }
        b.setInputIds(ids).setLabels(labels);
      }
    }
    if (r.nextInt(4) == 0) {
      b.setWeight(0.25f + r.nextInt(8));
    }
    return b.build();
  }

  private static String words(Random r, int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append(List.of("Jack", "has", "a", "red", "ball", "the", "cat", "is", "big",
          "small", "What", "color", "yes").get(r.nextInt(13)));
    }
    return b.toString();
  }

  @Test
  void validRecordsAllDecodeToWhatTheySay() {
    Random random = new Random(SEED);
    for (int i = 0; i < 1000; i++) {
      InstructionRecord record = validRecord(random);
      TrainingItem item;
      try {
        item = decoder.decode(new KafkaInput(null, encode(record), "t", 0, i, 0));
      } catch (Rejected e) {
        throw new AssertionError("a valid record refused (" + e.reason() + ": " + e.getMessage() + "): " + record, e);
      }
      assertEquals(record.getAdapterId(), item.adapterId);
      assertEquals(record.getExampleId(), item.exampleId);
      assertEquals(record.getWeight() == null ? 1f : record.getWeight(), item.weight);
      if (record.getInputIds() != null) {
        assertArrayEquals(record.getInputIds().stream().mapToInt(Integer::intValue).toArray(), item.inputIds);
      }
    }
  }

  @Test
  void randomBytes() {
    Map<String, Integer> seen = fuzz("randomBytes", 3000, r -> {
      byte[] v = new byte[r.nextInt(4000)];
      r.nextBytes(v);
      if (v.length > 2 && r.nextBoolean()) { // a valid single-object header half the time
        v[0] = (byte) 0xC3;
        v[1] = 0x01;
      }
      return any(v);
    });
    // half the inputs carry the single-object header: those with it fail on the fingerprint
    assertTrue(seen.getOrDefault("NOT_AVRO", 0) > 1000 && seen.getOrDefault("UNKNOWN_SCHEMA", 0) > 1000, seen.toString());
  }

  @Test
  void mutatedAndTruncatedRecords() {
    Map<String, Integer> seen = fuzz("mutated", 4000, r -> {
      boolean valid = r.nextBoolean();
      byte[] v = encode(valid ? validRecord(r) : record(r));
      int i = r.nextInt(v.length);
      return switch (r.nextInt(4)) {
        case 0 -> new Case(v, valid ? ACCEPT : null); // unmutated
        case 1 -> {
          v[i] = (byte) r.nextInt(256);
          yield any(v);
        }
        case 2 -> any(Arrays.copyOf(v, i)); // truncated
        default -> {
          byte[] c = Arrays.copyOf(v, v.length + 1 + r.nextInt(64));
          c[v.length] = (byte) r.nextInt(256);
          yield any(c);
        }
      };
    });
    // about an eighth are valid and unmutated; the random records and the mutations add more
    assertTrue(seen.getOrDefault(ACCEPT, 0) > 500, seen.toString());
    assertTrue(seen.getOrDefault("NOT_AVRO", 0) > 300, seen.toString());
  }

  @Test
  void wrongSchemaFingerprints() {
    fuzz("fingerprints", 500, r -> {
      byte[] v = encode(validRecord(r));
      ByteBuffer.wrap(v, 2, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(r.nextLong());
      return new Case(v, "UNKNOWN_SCHEMA");
    });
  }

  @Test
  void invalidUtf8InText() {
    fuzz("utf8", 1000, r -> {
      int n = 1 + r.nextInt(200);
      byte[] v = encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e")
          .setPrompt("P".repeat(n)).setResponse("ok").build());
      byte[] garbage = new byte[n];
      r.nextBytes(garbage);
      System.arraycopy(garbage, 0, v, indexOf(v, "P".repeat(n).getBytes(StandardCharsets.UTF_8)), n);
      return any(v);
    });
  }

  @Test
  void oversizedAndCrowdedRecords() {
    // the limits of this decoder: 16 KiB a record, 32 messages, 8 Ki characters of text; each
    // case expects the first limit its input breaks, in the order the decoder checks them
    Map<String, Integer> seen = fuzz("oversized", 200, r -> {
      int chars = r.nextInt(60_000);
      byte[] v;
      int messages = 0;
      long text;
      if (r.nextBoolean()) {
        List<ChatMessage> m = new ArrayList<>();
        messages = r.nextInt(200);
        for (int i = 0; i < messages; i++) {
          m.add(ChatMessage.newBuilder().setRole(i % 2 == 0 ? "user" : "assistant").setContent("x".repeat(chars / 100))
              .build());
        }
        v = encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e").setMessages(m).build());
        text = (long) messages * (chars / 100);
      } else {
        v = encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e").setPrompt("y".repeat(chars))
            .setResponse("z").build());
        text = chars + 1;
      }
      String expected = v.length > 16 << 10 ? "RECORD_TOO_LARGE" : messages > 32 ? "TOO_MANY_MESSAGES"
          : text > 8 << 10 ? "TEXT_TOO_LONG" : null;
      return new Case(v, expected);
    });
    assertTrue(seen.getOrDefault("RECORD_TOO_LARGE", 0) > 50 && seen.getOrDefault("TOO_MANY_MESSAGES", 0) > 5
        && seen.getOrDefault("TEXT_TOO_LONG", 0) > 0, seen.toString());
  }

  private static int indexOf(byte[] data, byte[] needle) {
    for (int i = 0; i + needle.length <= data.length; i++) {
      if (Arrays.equals(data, i, i + needle.length, needle, 0, needle.length)) {
        return i;
      }
    }
    throw new IllegalStateException("not found");
  }
}
