package io.bonestream.job;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.util.FileTrees;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.BatchPolicy;
import io.bonestream.operators.train.EvalPolicy;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * {@code bonestream bench --streaming}: the streaming tax and the freshness of versions. One
 * adapter's pre-tokenized records go to a real (embedded) broker's instructions topic: all of them
 * before the job starts (a backlog: the job trains as fast as it can), or, with a rate, paced while
 * it runs (a live stream below the trainer's capacity). The streaming job (Flink in this process,
 * parallelism 1) trains on them, a version every few steps, and a subscriber follows the adapters
 * topic. With a backlog the engine alone then trains on the very same batches in the same process.
 * Throughput: tokens between the first version after the warm-up and the last one, over the time
 * between their manifests' creation (each created right after the step that triggered it), against
 * the engine's tokens/s over the same steps. Freshness: from a manifest's creation to the subscriber
 * having applied its version, per version (the manifest is committed with the checkpoint after it,
 * so this includes up to one checkpoint interval, and with a backlog the time the checkpoint's
 * barrier waits behind the records buffered ahead of it).
 */
public final class StreamingBench {
  private StreamingBench() {}

  /** The measurement. */
  public record Result(String model, String method, int r, int batch, int seq, int steps, int everySteps,
      long checkpointIntervalMs, double recordsPerSecond, double streamingTokensPerSecond, double engineTokensPerSecond, double ratio,
      int versions, double freshnessP50Seconds, double freshnessP99Seconds, double freshnessMaxSeconds,
      double[] freshnessSeconds) {}

  /** What the subscriber saw of a version: created, applied (epoch ms), tokens trained by then. */
  private record Seen(long version, long createdMs, long appliedMs, long tokens) {}

  /**
   * Runs the measurement. {@code rate}: records per second produced while the job runs, or 0 for
   * all records in the topic first; {@code flink}: Flink settings over the defaults.
   */
  public static Result run(Path modelDir, AdapterConfig adapter, int batch, int seq, int steps, int everySteps,
      long checkpointMs, double rate, Map<String, String> flink, PrintWriter log) throws Exception {
    Path data = Files.createTempDirectory("bonestream-streaming-bench");
    SharedModels.Loaded model = SharedModels.acquire(modelDir);
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, data.resolve("kafka"), true)) {
      BaseModel base = model.model();
      String id = "bench-" + adapter.method().id();
      int vocab = base.config().vocabSize();
      List<Example> examples = io.bonestream.engine.bench.TrainBenchmark.examples(vocab, steps * batch, seq);
      TrainConfig train = TrainConfig.builder().lr(1e-4).batchSize(batch).maxSeqLen(seq + 1).build();
      kafka.createTopic(StreamingJob.INSTRUCTIONS_TOPIC, 1, false);
      kafka.createTopic(StreamingJob.ADAPTERS_TOPIC, 1, true);
      kafka.createTopic(StreamingJob.DEAD_LETTER_TOPIC, 1, false);
      kafka.createTopic(StreamingJob.GATED_TOPIC, 1, false);
      kafka.createTopic(StreamingJob.CONTROL_TOPIC, 1, false);
      if (rate <= 0) {
        produce(kafka.bootstrapServers(), id, examples, 0);
        log.printf(Locale.ROOT, "%d records of %d tokens in the instructions topic%n", examples.size(), seq);
        log.flush();
      }

      StreamingJob job = StreamingJob.builder()
          .bootstrapServers(kafka.bootstrapServers())
          .modelDir(modelDir.toString())
          .validatedWith(base)
          .profiles(AdapterProfiles.of(new AdapterProfile(adapter, train, EvalPolicy.OFF)))
          .batchPolicy(BatchPolicy.ofExamples(batch))
          .snapshotPolicy(new SnapshotPolicy(everySteps, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT,
              data.resolve("blobs").toUri().toString()))
          .maxSeqLen(seq + 1)
          .transactionalIdPrefix("bonestream-bench")
          .build();
      Map<Long, Seen> seen = new ConcurrentHashMap<>();
      AdapterSubscriber subscriber = AdapterSubscriber.builder().bootstrapServers(kafka.bootstrapServers())
          .baseModel(base.host()).registry(AdapterRegistry.builder().build()).allowUnsigned(true).build();
      subscriber.addListener(u -> {
        if (u instanceof AdapterUpdate.Accepted a) {
          seen.put(a.version(), new Seen(a.version(), a.adapter().createdAt().toEpochMilli(), System.currentTimeMillis(),
              a.adapter().stats().getTokens()));
        }
      });
      subscriber.start();
      String checkpoints = data.resolve("checkpoints").toUri().toString();
      JobClient client = LocalFlink.start(job, LocalFlink.configuration(EmbeddedKafka.freePort(),
          EmbeddedKafka.freePort(), 1, checkpoints, flink), checkpointMs, "bonestream-streaming-bench");
      if (rate > 0) {
        log.printf(Locale.ROOT, "producing %d records of %d tokens at %.1f records/s%n", examples.size(), seq, rate);
        log.flush();
        produce(kafka.bootstrapServers(), id, examples, rate);
      }
      long versions = steps / everySteps;
      long deadline = System.nanoTime() + Duration.ofMinutes(30).toNanos();
      while (seen.size() < versions && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      subscriber.close();
      if (seen.size() < versions) {
        throw new IllegalStateException("only " + seen.size() + " of " + versions + " versions arrived");
      }
      List<Seen> vs = seen.values().stream().sorted((a, b) -> Long.compare(a.version(), b.version())).toList();
      // throughput after a warm-up of a tenth of the versions (at least one)
      Seen first = vs.get(Math.max(1, vs.size() / 10) - 1);
      Seen last = vs.get(vs.size() - 1);
      double streaming = (last.tokens() - first.tokens()) / ((last.createdMs() - first.createdMs()) / 1e3);
      int fromStep = (int) (first.version() * everySteps);
      int toStep = (int) (last.version() * everySteps);
      // paced, the job trains only as fast as the records come: no throughput to compare
      double engine = rate > 0 ? Double.NaN : engineAlone(base, adapter, train, examples, batch, fromStep, toStep);
      double[] fresh = vs.stream().mapToDouble(s -> (s.appliedMs() - s.createdMs()) / 1e3).toArray();
      double[] sorted = fresh.clone();
      Arrays.sort(sorted);
      return new Result(base.name(), adapter.method().id(), adapter.r(), batch, seq, steps, everySteps, checkpointMs,
          rate, streaming, engine, streaming / engine, vs.size(), percentile(sorted, 0.5), percentile(sorted, 0.99),
          sorted[sorted.length - 1], fresh);
    } finally {
      SharedModels.release(modelDir);
      FileTrees.delete(data);
    }
  }

  /**
   * A random model of a bench shape ({@link io.bonestream.engine.bench.TrainBenchmark#randomModel}'s weights) as a
   * model folder {@code random-NAME} in a new temporary folder, float32 safetensors, with the tokenizer files of {@code tokenizerFrom}:
   * the benchmark's records are pre-tokenized, so the tokenizer only has to load. The caller deletes its parent folder.
   */
  public static Path randomModelFolder(io.bonestream.engine.bench.TrainBenchmark.Shape s, Path tokenizerFrom)
      throws java.io.IOException {
    // named after the shape (a model's name is its folder's): random-25M
    Path dir = Files.createDirectory(Files.createTempDirectory("bonestream-bench-model").resolve("random-" + s.name()));
    var config = io.bonestream.engine.model.RandomModel.configJson(s.hidden(), s.layers(), s.heads(), s.kvHeads(),
        s.intermediate(), s.vocab(), Math.max(2048, s.seq()));
    Files.writeString(dir.resolve("config.json"), io.bonestream.core.util.Json.MAPPER.writeValueAsString(config));
    io.bonestream.engine.model.SafeTensors.writeF32(dir.resolve("model.safetensors"),
        io.bonestream.engine.model.RandomModel.tensors(s.config(), org.nd4j.linalg.api.buffer.DataType.FLOAT, 0.02,
            0.0, false, 0), Map.of());
    for (String f : List.of("tokenizer.json", "tokenizer_config.json", "tokenizer.model")) {
      if (Files.exists(tokenizerFrom.resolve(f))) {
        Files.copy(tokenizerFrom.resolve(f), dir.resolve(f));
      }
    }
    return dir;
  }

  /** Sends the records, all at once ({@code rate} 0) or {@code rate} per second. */
  private static void produce(String bootstrap, String id, List<Example> examples, double rate) throws Exception {
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new Properties())) {
      long start = System.nanoTime();
      for (int i = 0; i < examples.size(); i++) {
        if (rate > 0) {
          long due = start + (long) (i / rate * 1e9);
          long wait = due - System.nanoTime();
          if (wait > 0) {
            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
          }
        }
        Example e = examples.get(i);
        List<Integer> ids = Arrays.stream(e.inputIds()).boxed().toList();
        List<Integer> labels = Arrays.stream(e.labels()).boxed().toList();
        p.send(KafkaClients.instruction(StreamingJob.INSTRUCTIONS_TOPIC, InstructionRecord.newBuilder()
            .setAdapterId(id).setExampleId("e" + i).setInputIds(ids).setLabels(labels).build()));
        if (rate > 0) {
          p.flush();
        }
      }
      p.flush();
    }
  }

  /** The engine alone on the same batches: tokens/s over steps [from, to) after the steps before. */
  private static double engineAlone(BaseModel base, AdapterConfig adapter, TrainConfig train, List<Example> examples,
      int batch, int from, int to) {
    try (Trainer t = Trainer.create(base, adapter, train)) {
      long tokens = 0;
      long start = 0;
      for (int s = 0; s < to; s++) {
        if (s == from) {
          start = System.nanoTime();
          tokens = t.tokensSeen();
        }
        t.step(examples.subList(s * batch, (s + 1) * batch));
      }
      return (t.tokensSeen() - tokens) / ((System.nanoTime() - start) / 1e9); // the manifests' count
    }
  }

  /** The nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, double q) {
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }
}
