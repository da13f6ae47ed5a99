package io.bonestream.job;

import io.bonestream.job.recovery.Recovery;
import io.bonestream.job.recovery.RestorePoints;
import io.bonestream.operators.StreamingJob;
import java.util.Map;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.prometheus.BoundPrometheusReporterFactory;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Runs the streaming job on a Flink runtime in this process (a MiniCluster) with the web UI, the
 * Prometheus reporter and exactly-once checkpoints on: what {@code demo} and {@code run} use.
 */
public final class LocalFlink {
  private LocalFlink() {}

  /** Where the web UI, the REST API and the metrics listen unless configured otherwise. */
  public static final String LOOPBACK = "127.0.0.1";

  /**
   * The Flink settings of a local run; {@code overrides} (Flink keys) win. The web UI / REST API
   * ({@code rest.bind-address}) and the Prometheus metrics ({@code metrics.reporter.prom.host})
   * listen on loopback, jar upload is off ({@code web.submit.enable}). Checkpoints are retained
   * when the job is cancelled; savepoints go to {@code <checkpointDir>/savepoints}.
   */
  public static Configuration configuration(int uiPort, int metricsPort, int parallelism,
      String checkpointDir, Map<String, String> overrides) {
    Configuration conf = new Configuration();
    conf.setString("rest.port", Integer.toString(uiPort));
    conf.setString("rest.address", "localhost");
    // the web UI / REST API and the metrics on loopback, and no jar upload (it runs code on this
    // host, which holds the signing key): job.yaml's flink section may open either up
    conf.setString("rest.bind-address", LOOPBACK);
    conf.setString("jobmanager.bind-host", LOOPBACK); // the blob server binds here
    conf.setString("taskmanager.bind-host", LOOPBACK);
    conf.setString("web.submit.enable", "false");
    conf.setString("metrics.reporter.prom.factory.class", BoundPrometheusReporterFactory.class.getName());
    conf.setString("metrics.reporter.prom.host", LOOPBACK);
    conf.setString("metrics.reporter.prom.port", Integer.toString(metricsPort));
    // label values as they are: the filter would turn adapter ids "a-b", "a.b" and "a_b" into one
    // series "a_b" (Prometheus allows any UTF-8 in label values; the exposition escapes quotes)
    conf.setString("metrics.reporter.prom.filterLabelValueCharacters", "false");
    conf.setString("parallelism.default", Integer.toString(parallelism));
    conf.setString("taskmanager.numberOfTaskSlots", Integer.toString(parallelism));
    conf.setString("state.backend.type", "hashmap");
    conf.setString("execution.checkpointing.dir", checkpointDir);
    conf.setString("execution.checkpointing.num-retained", "2");
    // a checkpoint's barrier overtakes the records buffered ahead of it (they are stored with the
    // checkpoint): with a backlog, versions still become visible about once per interval instead of
    // after every buffered record has trained (docs/performance.md, freshness). Savepoints stay aligned.
    conf.setString("execution.checkpointing.unaligned.enabled", "true");
    conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
    conf.set(CheckpointingOptions.SAVEPOINT_DIRECTORY, RestorePoints.savepointDir(checkpointDir));
    conf.set(PipelineOptions.MAX_PARALLELISM, JobEnvironment.MAX_PARALLELISM);
    overrides.forEach(conf::setString);
    if (!overrides.containsKey("taskmanager.numberOfTaskSlots")) {
      // enough slots for the configured parallelism, or the job waits for resources forever
      conf.setString("taskmanager.numberOfTaskSlots", conf.getString("parallelism.default", "1"));
    }
    return conf;
  }

  /** Starts the job, restored from {@code plan}'s checkpoint or savepoint when it has one. */
  public static JobClient start(StreamingJob job, Configuration conf, long checkpointIntervalMs,
      String name, Recovery.Plan plan) throws Exception {
    Configuration c = new Configuration(conf);
    if (plan.restores()) {
      c.set(StateRecoveryOptions.SAVEPOINT_PATH, plan.point().path());
    }
    return start(job, c, checkpointIntervalMs, name);
  }

  public static JobClient start(StreamingJob job, Configuration conf, long checkpointIntervalMs,
      String name) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(conf);
    JobEnvironment.configure(env, checkpointIntervalMs);
    job.addTo(env);
    return env.executeAsync(name);
  }
}
