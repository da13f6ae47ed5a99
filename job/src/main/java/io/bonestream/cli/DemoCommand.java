package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.core.util.Durations;
import io.bonestream.job.demo.Demo;
import io.bonestream.job.recovery.StopSignals;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs everything in this process: a Kafka broker, the streaming trainer on Flink",
        "(web UI and Prometheus metrics on), a built-in instruction stream for several adapters,",
        "and a subscriber that evaluates each new adapter version on held-out prompts."})
final class DemoCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--duration", defaultValue = "5m", paramLabel = "DURATION", description =
      "how long it runs, e.g. 30s, 10m (default: ${DEFAULT-VALUE})")
  String duration;

  @Option(names = "--adapters", defaultValue = "3", paramLabel = "N", description =
      "adapters, one task each (default: ${DEFAULT-VALUE})")
  int adapters;

  @Option(names = "--kafka-port", defaultValue = "9092", paramLabel = "PORT", description =
      "the Kafka broker's port, on localhost (default: ${DEFAULT-VALUE})")
  int kafkaPort;

  @Option(names = "--ui-port", defaultValue = "8081", paramLabel = "PORT", description =
      "Flink web UI (default: ${DEFAULT-VALUE})")
  int uiPort;

  @Option(names = "--metrics-port", defaultValue = "9249", paramLabel = "PORT",
      description = "Prometheus metrics (default: ${DEFAULT-VALUE})")
  int metricsPort;

  @Option(names = "--serve-port", defaultValue = "8000", paramLabel = "PORT",
      description = "the inference server's completions API (default: ${DEFAULT-VALUE})")
  int servePort;

  @Option(names = "--bind", defaultValue = "127.0.0.1", paramLabel = "ADDRESS",
      description = "where the web UI, the metrics and the completions API listen (default: "
          + "${DEFAULT-VALUE}, loopback; 0.0.0.0: every interface). Jar upload stays off")
  String bind;

  @Option(names = "--data-dir", paramLabel = "DIR", description =
      "keep the broker's topics and the job's state here; a second run on it continues "
      + "where the first stopped (default: a temporary folder)")
  Path dataDir;

  @Option(names = "--model", defaultValue = "models/stories260K", paramLabel = "DIR", hidden = true)
  Path model;

  @Option(names = "--rate", defaultValue = "8", paramLabel = "N", description =
      "records per second per adapter (default: ${DEFAULT-VALUE})")
  double rate;

  @CommandLine.Mixin
  BackendOptions backend;

  @CommandLine.Mixin
  LogOptions log;

  @Override
  public Integer call() throws Exception {
    Duration length = Durations.parse(duration, "--duration");
    if (length.isZero()) {
      throw new BonestreamException("--duration must be longer than 0 s (e.g. 30s, 5m)");
    }
    Ports.requireFree("localhost", String.valueOf(kafkaPort), "--kafka-port");
    Ports.requireFree(bind, String.valueOf(uiPort), "--ui-port");
    Ports.requireFree(bind, String.valueOf(metricsPort), "--metrics-port");
    Ports.requireFree(bind, String.valueOf(servePort), "--serve-port");
    // with a temporary data folder the log file goes under the working folder: it outlives the demo
    log.start("demo", dataDir != null ? dataDir.resolve("logs") : Path.of("logs"), spec.commandLine().getOut());
    // Ctrl-C / SIGTERM end the demo early but cleanly (with --data-dir: a savepoint to resume from)
    BackendSpec training = backend.spec();
    Backends.check(training); // no GPU or a library missing: one line, before the broker starts
    CountDownLatch interrupted = new CountDownLatch(1);
    StopSignals.install(interrupted::countDown);
    Path modelDir = model.isAbsolute() ? model : resolveModel(model);
    Demo.run(new Demo.Settings(length, adapters, kafkaPort, uiPort,
        metricsPort, servePort, dataDir, modelDir, rate, training, bind), spec.commandLine().getOut(), interrupted);
    return 0;
  }

  /** The bundled model, found from the working directory or the launcher's project root. */
  static Path resolveModel(Path model) {
    String root = System.getProperty("bonestream.home");
    if (!model.toFile().isDirectory() && root != null) {
      return Paths.get(root).resolve(model);
    }
    return model.toAbsolutePath();
  }
}
