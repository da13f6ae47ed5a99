package io.bonestream.job.demo;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.FileTrees;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.job.EmbeddedKafka;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.LocalFlink;
import io.bonestream.job.recovery.GracefulStop;
import io.bonestream.job.recovery.Recovery;
import io.bonestream.job.recovery.RestorePoints;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.publish.SigningKeySource;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.BatchPolicy;
import io.bonestream.operators.train.EvalPolicy;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.schemas.SigningKeys;
import io.bonestream.serve.InferenceServer;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.SubscriberMetrics;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.jspecify.annotations.Nullable;

/**
 * The embedded demo: a real KRaft broker and a Flink runtime in this process, the streaming
 * trainer on stories260K, a built-in instruction stream (one synthetic task per adapter, with a
 * bad record now and then for the dead-letter topic), the subscriber library feeding the reference
 * inference server, and an evaluation of every new adapter version on held-out prompts.
 */
public final class Demo {
  /** Settings; a null data dir means a temporary one, deleted at the end. */
  /** {@code bind}: the address the web UI, the metrics and the inference server listen on. */
  public record Settings(Duration duration, int adapters, int kafkaPort, int uiPort, int metricsPort,
      int servePort, @Nullable Path dataDir, Path modelDir, double recordsPerSecondPerAdapter, BackendSpec backend,
      String bind) {
    /** Listening on loopback only. */
    public Settings(Duration duration, int adapters, int kafkaPort, int uiPort, int metricsPort, int servePort,
        @Nullable Path dataDir, Path modelDir, double recordsPerSecondPerAdapter, BackendSpec backend) {
      this(duration, adapters, kafkaPort, uiPort, metricsPort, servePort, dataDir, modelDir,
          recordsPerSecondPerAdapter, backend, LocalFlink.LOOPBACK);
    }
  }

  /** What the demo measured: per adapter, the last evaluation. */
  public record Result(Map<String, DemoSubscriber.Evaluation> evaluations, long fed, long deadLettered) {
    public double baseLoss(String adapter) {
      return evaluations.get(adapter).baseLoss();
    }

    public double adapterLoss(String adapter) {
      return evaluations.get(adapter).adapterLoss();
    }

    /** The newest version of {@code adapter} the demo evaluated. */
    public long version(String adapter) {
      return evaluations.get(adapter).version();
    }
  }

  private Demo() {}

  public static Result run(Settings s, PrintWriter out, CountDownLatch interrupted) throws Exception {
    if (s.adapters() < 1 || s.adapters() > 16) {
      throw new BonestreamException("--adapters must be between 1 and 16");
    }
    boolean temporary = s.dataDir() == null;
    Path data = temporary ? Files.createTempDirectory("bonestream-demo") : s.dataDir().toAbsolutePath();
    Files.createDirectories(data);
    Map<String, DemoTask> tasks = new LinkedHashMap<>();
    for (int i = 0; i < s.adapters(); i++) {
      DemoTask t = DemoTask.nth(i);
      tasks.put("demo-" + t.id() + (i < DemoTask.values().length ? "" : "-" + (i / DemoTask.values().length + 1)), t);
    }
    out.println("starting a Kafka broker (KRaft) ...");
    out.flush();
    try (EmbeddedKafka kafka = EmbeddedKafka.start(s.kafkaPort(), data.resolve("kafka"), temporary)) {
      kafka.createTopic(StreamingJob.INSTRUCTIONS_TOPIC, 2, false);
      kafka.createTopic(StreamingJob.ADAPTERS_TOPIC, 1, true);
      kafka.createTopic(StreamingJob.DEAD_LETTER_TOPIC, 1, false);
      kafka.createTopic(StreamingJob.GATED_TOPIC, 1, false);
      kafka.createTopic(StreamingJob.CONTROL_TOPIC, 1, false);
      SharedModels.Loaded model = SharedModels.acquire(s.modelDir());
      try {
        return runWith(s, out, interrupted, kafka, model, data, tasks, temporary);
      } finally {
        SharedModels.release(s.modelDir());
      }
    } finally {
      if (temporary) {
        FileTrees.delete(data);
      }
    }
  }

  private static Result runWith(Settings s, PrintWriter out, CountDownLatch interrupted, EmbeddedKafka kafka,
      SharedModels.Loaded model, Path data, Map<String, DemoTask> tasks, boolean temporary) throws Exception {
    // the eval gate on: a tenth of each task's records held out (32), a snapshot over 10% worse than
    // the best published one is held back
    AdapterProfile profile = new AdapterProfile(
        AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(8).maxSeqLen(64).build(),
        new EvalPolicy(0.1, 32, 0.10, true));
    // signed manifests: a key pair kept with the demo's state, the subscriber trusting its public key
    Path keys = data.resolve("keys");
    if (!Files.exists(keys.resolve("signing.key"))) {
      SigningKeys.write(SigningKeys.generate(), keys, "signing");
    }
    StreamingJob job = StreamingJob.builder()
        .bootstrapServers(kafka.bootstrapServers())
        .signing(SigningKeySource.file(keys.resolve("signing.key").toString()))
        .modelDir(s.modelDir().toString())
        .validatedWith(model.model())
        .profiles(AdapterProfiles.of(profile))
        .batchPolicy(BatchPolicy.ofExamples(8))
        .snapshotPolicy(new SnapshotPolicy(5, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT,
            data.resolve("blobs").toUri().toString()))
        .maxSeqLen(64)
        .backend(s.backend())
        .transactionalIdPrefix("bonestream-demo")
        .build();
    String checkpoints = data.resolve("checkpoints").toUri().toString();
    Configuration conf = LocalFlink.configuration(s.uiPort(), s.metricsPort(), 2, checkpoints,
        Map.of("rest.bind-address", s.bind(), "metrics.reporter.prom.host", s.bind()));
    // a second run on the same --data-dir continues where the first stopped
    Recovery.Plan plan = Recovery.plan(job, checkpoints, null, false, "hashmap");
    DemoSubscriber subscriber = new DemoSubscriber(model.model(), model.tokenizer(), out, tasks);
    // The inference side: the subscriber library feeding the reference inference server.
    AdapterRegistry registry = AdapterRegistry.builder().build();
    SubscriberMetrics subscriberMetrics = SubscriberMetrics.create(registry);
    AdapterSubscriber adapters = AdapterSubscriber.builder().bootstrapServers(kafka.bootstrapServers())
        .trustedKeyFile(keys.resolve("signing.pub"))
        .baseModel(model.model().host()).registry(registry).metrics(subscriberMetrics).build();
    adapters.addListener(subscriber);
    InferenceServer server = InferenceServer.builder().baseModel(model.model()).tokenizer(model.tokenizer())
        .registry(registry).metrics(subscriberMetrics).readiness(adapters::isReady).host(s.bind()).port(s.servePort()).build();
    JobClient client = LocalFlink.start(job, conf, 5000, "bonestream-demo", plan);
    if (plan.restores()) {
      RestorePoints.prune(checkpoints, plan.point(), Recovery.OLDER_RESTORE_POINTS_KEPT);
    }
    out.println();
    plan.report().forEach(out::println);
    out.println("Kafka bootstrap: " + kafka.bootstrapServers());
    out.println("Flink web UI:    http://localhost:" + s.uiPort());
    out.println("Metrics:         http://localhost:" + s.metricsPort() + "/metrics");
    out.println("Completions:     http://localhost:" + server.port() + "/v1/completions  (models: /v1/models,"
        + " e.g. " + tasks.keySet().iterator().next() + " or " + tasks.keySet().iterator().next() + "@3)");
    out.println("Topics:          " + StreamingJob.INSTRUCTIONS_TOPIC + " -> " + StreamingJob.ADAPTERS_TOPIC
        + " (dead letters: " + StreamingJob.DEAD_LETTER_TOPIC + ")");
    out.println("Running for " + s.duration().toSeconds() + " s; Ctrl-C stops earlier.");
    out.println();
    for (Map.Entry<String, DemoTask> e : tasks.entrySet()) {
      out.printf(Locale.ROOT, "%-16s task %-9s base model: held-out loss %.3f, \"%s\" -> \"%s\"%n", e.getKey(),
          e.getValue().id(), subscriber.baseLoss(e.getValue()), DemoSubscriber.sampleQuestion(e.getValue()),
          subscriber.baseAnswer(e.getValue()));
    }
    out.flush();

    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong fed = new AtomicLong();
    AtomicLong bad = new AtomicLong();
    Thread feeder = new Thread(() -> feed(kafka.bootstrapServers(), tasks, s.recordsPerSecondPerAdapter(),
        stop, fed, bad), "demo-feeder");
    feeder.start();
    adapters.start();
    if (adapters.awaitReady(Duration.ofSeconds(60))) {
      subscriber.goLive(); // reports the versions a restarted demo begins with
    }
    long end = System.nanoTime() + s.duration().toNanos();
    long started = System.nanoTime();
    try {
      while (System.nanoTime() < end && !interrupted.await(Math.min(15_000,
          Math.max(1, (end - System.nanoTime()) / 1_000_000)), TimeUnit.MILLISECONDS)) {
        if (System.nanoTime() < end) {
          StringBuilder v = new StringBuilder();
          subscriber.latest().forEach((id, e) -> v.append(' ').append(id).append(" v").append(e.version()));
          out.printf(Locale.ROOT, "[%3ds] fed %d records (%d broken on purpose, for the dead-letter topic); versions:%s%n",
              (System.nanoTime() - started) / 1_000_000_000, fed.get(), bad.get(), v.length() == 0 ? " none yet" : v);
          out.flush();
        }
      }
    } finally {
      out.println("stopping ...");
      out.flush();
      stop.set(true);
      feeder.join();
      adapters.close();
      server.close();
      if (temporary) {
        try {
          client.cancel().get(60, TimeUnit.SECONDS);
        } catch (Exception ignored) {
          // already finished or failed; nothing to cancel
        }
      } else {
        GracefulStop.stop(client, checkpoints, Duration.ofMinutes(1), out);
      }
    }
    out.println();
    out.println("held-out loss, base model -> latest version:");
    for (Map.Entry<String, DemoTask> e : tasks.entrySet()) {
      DemoSubscriber.Evaluation ev = subscriber.latest().get(e.getKey());
      if (ev == null) {
        out.printf(Locale.ROOT, "  %-16s no version yet%n", e.getKey());
      } else {
        // the version padded, so that the questions line up from v1 to v99999
        out.printf(Locale.ROOT, "  %-16s %.3f -> %.3f %-7s \"%s\"  before: \"%s\"  after: \"%s\"%n", e.getKey(),
            ev.baseLoss(), ev.adapterLoss(), "(v" + ev.version() + ")", DemoSubscriber.sampleQuestion(e.getValue()),
            subscriber.baseAnswer(e.getValue()), ev.answer());
      }
    }
    out.flush();
    return new Result(Map.copyOf(subscriber.latest()), fed.get(), bad.get());
  }

  /** Sends each adapter's task at the given rate; every 50th record is broken on purpose. */
  private static void feed(String bootstrap, Map<String, DemoTask> tasks, double rate, AtomicBoolean stop,
      AtomicLong fed, AtomicLong bad) {
    Map<String, Rng> rngs = new LinkedHashMap<>();
    int seed = 0;
    for (String id : tasks.keySet()) {
      rngs.put(id, new Rng(1000 + seed++));
    }
    long started = System.nanoTime();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new Properties())) {
      long n = 0;
      while (!stop.get()) {
        double due = (System.nanoTime() - started) / 1e9 * rate;
        while (n < due && !stop.get()) {
          for (Map.Entry<String, DemoTask> e : tasks.entrySet()) {
            DemoTask.Pair pair = e.getValue().trainExample(rngs.get(e.getKey()));
            boolean broken = (fed.get() + 1) % 50 == 0;
            InstructionRecord r = InstructionRecord.newBuilder().setAdapterId(e.getKey())
                .setExampleId(e.getKey() + "-" + n).setPrompt(pair.prompt())
                .setResponse(broken ? "" : pair.response()).setEventTime(Instant.now()).build();
            p.send(KafkaClients.instruction(StreamingJob.INSTRUCTIONS_TOPIC, r));
            fed.incrementAndGet();
            if (broken) {
              bad.incrementAndGet();
            }
          }
          n++;
        }
        Thread.sleep(50);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

}
