package io.bonestream.operators.decode;

import io.bonestream.engine.data.RecordParser;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.InstructionRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * {@code bonestream bench --decode}: what a record costs the job's decode step in each input
 * format. The same records (same texts, ids and weights) are written as Avro {@code
 * InstructionRecord}s and as JSON records of a shape, and the job's {@link DecodeInstructions}
 * (decode, validate, tokenize; through {@link RecordCheck}, as {@code inspect} runs it) reads each set: records per second per format, and the JSON ÷ Avro
 * ratio. Within a round the two formats take turns every few records, so both see the same machine,
 * and time is the decoding thread's CPU time (the tokenizer runs in that thread), which other
 * tenants of a shared machine move far less than the clock (the clock's rates are reported too).
 * Each round also times the format's decoder alone (bytes to an instruction and its fields, nothing
 * tokenized). Every record of the two
 * formats must give the same tokens, or the run fails: the formats are compared on equal work.
 */
public final class DecodeBench {
  private DecodeBench() {}

  /** The shapes measured: JSON's shape, and the Avro record that holds the same content. */
  public enum Shape {
    /** JSON {@code {prompt, response, system}}; Avro prompt, response, system. */
    PROMPT_RESPONSE("prompt-response"),
    /** JSON {@code {messages: [{role, content}]}}, a system message and two turns; Avro messages. */
    CHAT("chat"),
    /** JSON {@code {instruction, input, output}}; Avro prompt (instruction, blank line, input) and response. */
    ALPACA("alpaca");

    private final String id;

    Shape(String id) {
      this.id = id;
    }

    public String id() {
      return id;
    }
  }

  /**
   * One shape's measurement over the timed rounds: records per second through {@link
   * DecodeInstructions} by the decoding thread's CPU time (what other tenants of a shared machine
   * disturb least) and by the clock, the ratio JSON ÷ Avro of each (JSON's records/s over Avro's),
   * the lowest and highest per-round CPU ratio, the format's decoder alone in CPU microseconds per
   * record, the records' mean size in bytes and the tokens per record.
   */
  public record Result(String shape, int records, int rounds, double avroRecordsPerSecond,
      double jsonRecordsPerSecond, double jsonOverAvro, double jsonOverAvroMin, double jsonOverAvroMax,
      double avroWallRecordsPerSecond, double jsonWallRecordsPerSecond, double wallJsonOverAvro,
      double avroFormatMicros, double jsonFormatMicros, double avroBytes, double jsonBytes, double tokensPerRecord) {}

  private static final List<String> WORDS = List.of("Jack", "has", "a", "red", "ball", "the", "cat", "is", "big",
      "small", "What", "color", "yes", "Lily", "went", "to", "park", "with", "her", "mom", "and", "they", "saw",
      "dog", "played", "happy", "day", "sun", "tree", "friend");

  /**
   * Measures {@code shapes} with the tokenizer of the model in {@code modelDir}: {@code records}
   * records per format, {@code warmup} untimed rounds, then {@code rounds} timed ones.
   */
  public static List<Result> run(Path modelDir, int maxSeqLen, int records, int warmup, int rounds,
      List<Shape> shapes) {
    if (records <= 0 || warmup < 0 || rounds <= 0) {
      throw new IllegalArgumentException("records and rounds must be positive, warm-up rounds ≥ 0");
    }
    InputSpec avro = InputSpec.avro("avro");
    InputSpec json = InputSpec.builder().topic("json").format(InputFormat.JSON).build();
    // the job's decode step as inspect runs it: one decoder with both inputs, as a job reading both topics
    try (RecordCheck decoder = RecordCheck.open(modelDir, maxSeqLen, InputLimits.DEFAULT, List.of(avro, json))) {
      RecordDecoder avroFormat = RecordDecoder.of(avro);
      RecordDecoder jsonFormat = RecordDecoder.of(json);
      List<Result> results = new ArrayList<>();
      for (Shape shape : shapes) {
        Random random = new Random(20261206L ^ shape.ordinal());
        KafkaInput[] a = new KafkaInput[records];
        KafkaInput[] j = new KafkaInput[records];
        for (int i = 0; i < records; i++) {
          Content c = content(random, shape, i);
          a[i] = new KafkaInput(null, avro(c, shape), "avro", 0, i, 0);
          j[i] = new KafkaInput(null, json(c, shape), "json", 0, i, 0);
        }
        long tokens = sameTokens(decoder, a, j);
        double[] ratio = new double[rounds];
        double[] total = new double[4]; // Avro and JSON: CPU seconds, wall seconds
        double[] formatTotal = new double[4];
        for (int round = -warmup; round < rounds; round++) {
          double[] full = interleaved(a, j, (x, from, to) -> decodeAll(decoder, x, from, to));
          double[] format = interleaved(a, j, (x, from, to) -> formatAll(x[0].topic.equals("avro") ? avroFormat
              : jsonFormat, x, from, to));
          if (round >= 0) {
            ratio[round] = full[0] / full[1];
            for (int k = 0; k < 4; k++) {
              total[k] += full[k];
              formatTotal[k] += format[k];
            }
          }
        }
        double n = (double) records * rounds;
        results.add(new Result(shape.id(), records, rounds, n / total[0], n / total[1], total[0] / total[1],
            Arrays.stream(ratio).min().orElse(Double.NaN), Arrays.stream(ratio).max().orElse(Double.NaN),
            n / total[2], n / total[3], total[2] / total[3], formatTotal[0] * 1e6 / n, formatTotal[1] * 1e6 / n,
            meanBytes(a), meanBytes(j), (double) tokens / records));
      }
      return results;
    }
  }

  /** The texts of one record, whatever its format. */
  private record Content(String adapterId, String exampleId, float weight, String system, String prompt,
      String input, String response, String followUp, String secondResponse) {}

  private static Content content(Random r, Shape shape, int i) {
    return new Content("adapter-" + r.nextInt(64), "e" + i, r.nextInt(4) == 0 ? 0.5f + r.nextInt(4) : 1f,
        shape == Shape.ALPACA && r.nextBoolean() ? null : words(r, 8 + r.nextInt(8)), words(r, 20 + r.nextInt(40)),
        words(r, 10 + r.nextInt(20)), words(r, 10 + r.nextInt(30)), words(r, 5 + r.nextInt(15)),
        words(r, 5 + r.nextInt(20)));
  }

  private static String words(Random r, int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(i == 0 ? "" : " ").append(WORDS.get(r.nextInt(WORDS.size())));
    }
    return b.append('.').toString();
  }

  private static byte[] avro(Content c, Shape shape) {
    InstructionRecord.Builder b = InstructionRecord.newBuilder().setAdapterId(c.adapterId()).setExampleId(c.exampleId());
    if (c.weight() != 1f) {
      b.setWeight(c.weight());
    }
    switch (shape) {
      case PROMPT_RESPONSE -> b.setSystem(c.system()).setPrompt(c.prompt()).setResponse(c.response());
      case ALPACA -> b.setSystem(c.system()).setPrompt(RecordParser.alpacaPrompt(c.prompt(), c.input()))
          .setResponse(c.response());
      case CHAT -> b.setMessages(List.of(message("system", c.system()), message("user", c.prompt()),
          message("assistant", c.response()), message("user", c.followUp()),
          message("assistant", c.secondResponse())));
    }
    try {
      ByteBuffer buf = InstructionRecord.getEncoder().encode(b.build());
      byte[] out = new byte[buf.remaining()];
      buf.get(out);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static ChatMessage message(String role, String content) {
    return ChatMessage.newBuilder().setRole(role).setContent(content).build();
  }

  private static byte[] json(Content c, Shape shape) {
    StringBuilder b = new StringBuilder("{\"adapter_id\": ").append(quote(c.adapterId()))
        .append(", \"example_id\": ").append(quote(c.exampleId()));
    if (c.weight() != 1f) {
      b.append(", \"weight\": ").append(c.weight());
    }
    switch (shape) {
      case PROMPT_RESPONSE -> b.append(", \"system\": ").append(quote(c.system())).append(", \"prompt\": ")
          .append(quote(c.prompt())).append(", \"response\": ").append(quote(c.response()));
      case ALPACA -> {
        if (c.system() != null) {
          b.append(", \"system\": ").append(quote(c.system()));
        }
        b.append(", \"instruction\": ").append(quote(c.prompt())).append(", \"input\": ").append(quote(c.input()))
            .append(", \"output\": ").append(quote(c.response()));
      }
      case CHAT -> b.append(", \"messages\": [").append(jsonMessage("system", c.system())).append(", ")
          .append(jsonMessage("user", c.prompt())).append(", ").append(jsonMessage("assistant", c.response())).append(", ")
          .append(jsonMessage("user", c.followUp())).append(", ").append(jsonMessage("assistant", c.secondResponse()))
          .append(']');
    }
    return b.append('}').toString().getBytes(StandardCharsets.UTF_8);
  }

  private static String jsonMessage(String role, String content) {
    return "{\"role\": " + quote(role) + ", \"content\": " + quote(content) + "}";
  }

  /** A JSON string of plain text (the bench's words need no escapes). */
  private static String quote(String s) {
    return "\"" + s + "\"";
  }

  /** Decodes every record of both formats once; fails unless each pair gives the same item. Answers the tokens. */
  private static long sameTokens(RecordCheck decoder, KafkaInput[] a, KafkaInput[] j) {
    long tokens = 0;
    for (int i = 0; i < a.length; i++) {
      TrainingItem x = decode(decoder, a[i]);
      TrainingItem y = decode(decoder, j[i]);
      if (!Arrays.equals(x.inputIds, y.inputIds) || !Arrays.equals(x.labels, y.labels)
          || !x.adapterId.equals(y.adapterId) || !x.exampleId.equals(y.exampleId) || x.weight != y.weight) {
        throw new IllegalStateException("record " + i + ": the Avro and JSON forms decode differently");
      }
      tokens += x.inputIds.length;
    }
    return tokens;
  }

  private static TrainingItem decode(RecordCheck decoder, KafkaInput in) {
    RecordCheck.Outcome o = decoder.check(in);
    if (!o.accepted()) {
      throw new IllegalStateException("a bench record refused: " + o.reason() + ": " + o.message());
    }
    return o.item();
  }

  /** Reads {@code records[from, to)}. */
  @FunctionalInterface
  private interface Work {
    void run(KafkaInput[] records, int from, int to);
  }

  /** Records read at a time before the other format has its turn. */
  private static final int BLOCK = 16;

  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

  /**
   * The CPU seconds of this thread and the wall seconds {@code work} spends on all of {@code a} and
   * on all of {@code j} ({@code {a cpu, j cpu, a wall, j wall}}), read in blocks of {@link #BLOCK}
   * records that take turns (which of the two goes first alternates too), so that both formats meet
   * the same load, caches and clock frequency, whatever else runs on the machine.
   */
  private static double[] interleaved(KafkaInput[] a, KafkaInput[] j, Work work) {
    double[] t = new double[4];
    for (int from = 0, block = 0; from < a.length; from += BLOCK, block++) {
      int to = Math.min(a.length, from + BLOCK);
      boolean avroFirst = (block & 1) == 0;
      time(avroFirst ? a : j, from, to, work, t, avroFirst ? 0 : 1);
      time(avroFirst ? j : a, from, to, work, t, avroFirst ? 1 : 0);
    }
    return t;
  }

  private static void time(KafkaInput[] records, int from, int to, Work work, double[] t, int which) {
    long cpu = cpuNanos();
    long wall = System.nanoTime();
    work.run(records, from, to);
    t[2 + which] += (System.nanoTime() - wall) / 1e9;
    t[which] += (cpuNanos() - cpu) / 1e9;
  }

  /** This thread's CPU time (the tokenizer runs in it too), or the clock where the JVM cannot tell. */
  private static long cpuNanos() {
    return THREADS.isCurrentThreadCpuTimeSupported() ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
  }

  private static void decodeAll(RecordCheck decoder, KafkaInput[] records, int from, int to) {
    long sum = 0;
    for (int i = from; i < to; i++) {
      sum += decode(decoder, records[i]).inputIds.length;
    }
    if (sum == 0) {
      throw new IllegalStateException("no tokens");
    }
  }

  private static void formatAll(RecordDecoder format, KafkaInput[] records, int from, int to) {
    long sum = 0;
    for (int i = from; i < to; i++) {
      try {
        sum += format.decode(records[i]).instruction().textChars();
      } catch (Rejected e) {
        throw new IllegalStateException("a bench record refused: " + e.getMessage(), e);
      }
    }
    if (sum == 0) {
      throw new IllegalStateException("no text");
    }
  }

  private static double meanBytes(KafkaInput[] records) {
    return Arrays.stream(records).mapToInt(r -> r.value.length).average().orElse(0);
  }
}
