package io.bonestream.operators;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.bonestream.engine.TestFiles;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Bad input at scale, at the decoder: random bytes, mutated and truncated records, wrong schema
 * fingerprints, adversarial adapter ids, invalid UTF-8, huge token ids, oversized and crowded
 * records, thousands of each from fixed seeds. Every input either becomes a valid training item or
 * is rejected with a reason; nothing else ever escapes. A failure names the seed and case that
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

  /** Runs {@code cases} inputs from {@code make}; fails on anything but a valid item or a rejection. */
  private static void fuzz(String name, int cases, Function<Random, byte[]> make) {
    Random random = new Random(SEED ^ name.hashCode());
    for (int i = 0; i < cases; i++) {
      byte[] value = make.apply(random);
      KafkaInput in = new KafkaInput(null, value, "t", 0, i, 0);
      try {
        TrainingItem item = decoder.decode(in);
        assertTrue(AdapterIds.isValid(item.adapterId), "accepted adapter id '" + item.adapterId + "'");
        assertTrue(item.inputIds.length > 0 && item.inputIds.length == item.labels.length);
        for (int id : item.inputIds) {
          assertTrue(id >= 0 && id < vocab, "token id " + id);
        }
        assertTrue(Arrays.stream(item.labels).anyMatch(l -> l >= 0), "an item with no target");
        assertTrue(item.weight > 0 && Float.isFinite(item.weight), "weight " + item.weight);
      } catch (DecodeInstructions.Rejected r) {
        assertTrue(r.reason != null && r.getMessage() != null && r.getMessage().length() < 1000, r.getMessage());
      } catch (Throwable t) {
        fail(name + " case " + i + " (seed " + SEED + "): " + t + " for " + Arrays.toString(
            Arrays.copyOf(value, Math.min(64, value.length))), t);
      }
    }
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

  @Test
  void randomBytes() {
    fuzz("randomBytes", 3000, r -> {
      byte[] v = new byte[r.nextInt(4000)];
      r.nextBytes(v);
      if (v.length > 2 && r.nextBoolean()) { // a valid single-object header half the time
        v[0] = (byte) 0xC3;
        v[1] = 0x01;
      }
      return v;
    });
  }

  @Test
  void mutatedAndTruncatedRecords() {
    fuzz("mutated", 4000, r -> {
      byte[] v = encode(record(r));
      int i = r.nextInt(v.length);
      return switch (r.nextInt(4)) {
        case 0 -> v;
        case 1 -> {
          v[i] = (byte) r.nextInt(256);
          yield v;
        }
        case 2 -> Arrays.copyOf(v, i); // truncated
        default -> {
          byte[] c = Arrays.copyOf(v, v.length + 1 + r.nextInt(64));
          c[v.length] = (byte) r.nextInt(256);
          yield c;
        }
      };
    });
  }

  @Test
  void wrongSchemaFingerprints() {
    fuzz("fingerprints", 500, r -> {
      byte[] v = encode(record(r));
      ByteBuffer.wrap(v, 2, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(r.nextLong());
      return v;
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
      return v;
    });
  }

  @Test
  void oversizedAndCrowdedRecords() {
    fuzz("oversized", 200, r -> {
      int chars = r.nextInt(60_000);
      if (r.nextBoolean()) {
        List<ChatMessage> m = new ArrayList<>();
        int n = r.nextInt(200);
        for (int i = 0; i < n; i++) {
          m.add(ChatMessage.newBuilder().setRole(i % 2 == 0 ? "user" : "assistant").setContent("x".repeat(chars / 100))
              .build());
        }
        return encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e").setMessages(m).build());
      }
      return encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e").setPrompt("y".repeat(chars))
          .setResponse("z").build());
    });
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
