package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.job.JobConfig;
import io.bonestream.job.KafkaChecks;
import io.bonestream.job.LocalFlink;
import io.bonestream.job.recovery.GracefulStop;
import io.bonestream.job.recovery.Recovery;
import io.bonestream.job.recovery.RestorePoints;
import io.bonestream.job.recovery.StopSignals;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs the streaming trainer against an existing Kafka cluster, on a Flink",
        "runtime in this process, until Ctrl-C or SIGTERM, which stop it with a savepoint.",
        "It resumes from the newest checkpoint or savepoint in the checkpoint folder.",
        "Every setting comes from the YAML file; see job/job.example.yaml for all of them."})
final class RunCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", required = true, paramLabel = "job.yaml", description = "the job's settings")
  Path config;

  @Option(names = "--from-savepoint", paramLabel = "PATH",
      description = "restore this checkpoint or savepoint folder instead of the newest one")
  String fromSavepoint;

  @Option(names = "--fresh", description =
      "start without Flink state even if checkpoints exist; adapters with published "
      + "versions continue from their newest one (fresh optimizer)")
  boolean fresh;

  @CommandLine.Mixin
  LogOptions log;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    if (fresh && fromSavepoint != null) {
      throw new BonestreamException("--fresh and --from-savepoint exclude each other");
    }
    JobConfig c = JobConfig.read(config);
    log.start("run", Path.of("logs"), out);
    Configuration conf = LocalFlink.configuration(8081, 9249, 1, c.checkpointDir(), c.flink());
    Recovery.Plan plan = Recovery.plan(c.job(), c.checkpointDir(), fromSavepoint, fresh,
        conf.get(StateBackendOptions.STATE_BACKEND));
    Ports.requireFree(conf.getString("rest.bind-address", "127.0.0.1"), conf.getString("rest.port", "8081"),
        "the web UI: rest.port in job.yaml's flink section");
    Ports.requireFree(conf.getString("metrics.reporter.prom.host", "127.0.0.1"),
        conf.getString("metrics.reporter.prom.port", "9249"), "the metrics: metrics.reporter.prom.port in job.yaml's flink section");
    // a wrong address is one line here, not a job failing over with a page of stack traces each time
    KafkaChecks.requireAnswer(c.job().bootstrapServers(), c.job().kafkaProperties(),
        "kafka.bootstrap-servers in " + config.getFileName());
    plan.report().forEach(out::println);
    out.flush();
    JobClient client = LocalFlink.start(c.job(), conf, c.checkpointIntervalMs(), "bonestream", plan);
    if (plan.restores()) {
      for (String old : RestorePoints.prune(c.checkpointDir(), plan.point(), Recovery.OLDER_RESTORE_POINTS_KEPT)) {
        out.println("removed old restore point " + old);
      }
    }
    out.println("streaming trainer running: job " + client.getJobID());
    out.println("  kafka:   " + c.job().bootstrapServers() + "  (" + c.job().instructionsTopic() + " -> "
        + c.job().adaptersTopic() + ", dead letters " + c.job().deadLetterTopic() + ")");
    out.println("  web UI:  http://localhost:" + conf.getString("rest.port", "8081"));
    out.println("  metrics: http://localhost:" + conf.getString("metrics.reporter.prom.port", "9249") + "/metrics");
    out.println("  state:   " + c.checkpointDir());
    out.println("Ctrl-C or SIGTERM stops it with a savepoint; the next run resumes from there.");
    out.flush();

    AtomicBoolean stopRequested = new AtomicBoolean();
    CompletableFuture<Void> stopped = new CompletableFuture<>();
    StopSignals.install(() -> {
      stopRequested.set(true);
      try {
        GracefulStop.stop(client, c.checkpointDir(), Duration.ofMillis(c.savepointTimeoutMs()), out);
      } finally {
        stopped.complete(null);
      }
    });
    CompletableFuture<Throwable> ended = client.getJobExecutionResult().handle((r, e) -> e);
    CompletableFuture.anyOf(stopped, ended).join();
    if (stopRequested.get()) {
      stopped.join(); // the job ends under the stop; let it finish telling where the next run resumes
      return 0;
    }
    Throwable e = ended.join();
    if (e != null) {
      spec.commandLine().getErr().println("error: the job ended: " + e.getMessage()
          + "; the next run resumes from the newest retained checkpoint");
      return 1;
    }
    return 0;
  }
}
