package io.bonestream.cli;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.model.ModelConfig;
import io.bonestream.engine.util.Threads;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.SharedModels;
import io.bonestream.operators.StreamingJob;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.InferenceServer;
import io.bonestream.subscriber.PeftExportSink;
import io.bonestream.subscriber.SubscriberMetrics;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Serves completions over HTTP (OpenAI-style) with the base model and every adapter",
        "version the subscriber accepts from the adapters topic, hot-swapped. Ctrl-C stops it."})
final class ServeCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "the base model folder")
  Path model;

  @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.ADAPTERS_TOPIC, paramLabel = "T", description = "(default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--port", defaultValue = "8000", paramLabel = "PORT", description = "(default: ${DEFAULT-VALUE})")
  int port;

  @Option(names = "--export-dir", paramLabel = "DIR",
      description = "also write every version as PEFT folders here, with <adapter> aliases for LoRA servers")
  Path exportDir;

  @Option(names = "--keep", defaultValue = "3", paramLabel = "K", description = "versions held per adapter (default: ${DEFAULT-VALUE})")
  int keep;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Option(names = "--public-key", paramLabel = "FILE",
      description = {"trust manifests signed with this Ed25519 public key (repeat for a key rotation);",
          "unsigned, unknown-key or badly signed manifests are refused"})
  List<Path> publicKeys = new ArrayList<>();

  @Option(names = "--allow-unsigned", description = "serve unsigned manifests (without --public-key nothing is checked)")
  boolean allowUnsigned;

  @Option(names = "--admin-token-file", paramLabel = "FILE",
      description = "enables /admin/pin and /admin/unpin with this bearer token (or set BONESTREAM_ADMIN_TOKEN)")
  Path adminTokenFile;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (publicKeys.isEmpty() && !allowUnsigned) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give --public-key FILE to check the manifests' signatures, or --allow-unsigned");
    }
    String token = System.getenv("BONESTREAM_ADMIN_TOKEN");
    if (adminTokenFile != null) {
      try {
        token = Files.readString(adminTokenFile).strip();
      } catch (IOException e) {
        throw new BonestreamException("cannot read the admin token file " + adminTokenFile);
      }
    }
    Threads.configure(Threads.auto(0, ModelConfig.read(model).hiddenSize()));
    SharedModels.Loaded loaded = SharedModels.acquire(model);
    AdapterRegistry registry = AdapterRegistry.builder().keep(keep).build();
    SubscriberMetrics metrics = SubscriberMetrics.create(registry);
    AdapterSubscriber.Builder builder = AdapterSubscriber.builder().bootstrapServers(bootstrap).topic(topic)
        .kafkaProperties(KafkaProperties.load(kafkaConfig)).baseModel(loaded.model()).registry(registry)
        .metrics(metrics).allowUnsigned(allowUnsigned);
    publicKeys.forEach(builder::trustedKeyFile);
    AdapterSubscriber subscriber = builder.build();
    subscriber.addListener(u -> {
      if (u instanceof AdapterUpdate.Accepted a) {
        out.println("serving " + a.adapter().name() + " (step " + a.adapter().stats().getStep() + ")");
      } else if (u instanceof AdapterUpdate.Refused r) {
        out.println("refused " + r.adapterId() + "@" + r.version() + ": " + r.reason() + ": " + r.message());
      }
      out.flush();
    });
    if (exportDir != null) {
      subscriber.addListener(PeftExportSink.builder(exportDir).keep(keep).build());
    }
    InferenceServer server = InferenceServer.builder().baseModel(loaded.model()).tokenizer(loaded.tokenizer())
        .registry(registry).metrics(metrics).adminToken(token).readiness(subscriber::isReady).port(port).build();
    subscriber.start();
    out.println("serving " + loaded.model().name() + " on http://localhost:" + server.port()
        + " (completions: POST /v1/completions, models: GET /v1/models, metrics: /metrics)"
        + (token == null ? "; admin endpoints off" : "; admin endpoints on"));
    out.flush();
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      subscriber.close();
      done.countDown();
    }));
    subscriber.awaitReady(Duration.ofSeconds(60));
    done.await();
    return 0;
  }
}
