package io.bonestream.cli;

import io.bonestream.job.JobConfig;
import io.bonestream.job.LocalFlink;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs the streaming trainer against an existing Kafka cluster, on a Flink",
        "runtime in this process, until Ctrl-C. Every setting comes from the YAML file;",
        "see job/job.example.yaml for all of them."})
final class RunCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", required = true, paramLabel = "job.yaml", description = "the job's settings")
  Path config;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    JobConfig c = JobConfig.read(config);
    Configuration conf = LocalFlink.configuration(8081, 9249, 1, c.checkpointDir(), c.flink());
    JobClient client = LocalFlink.start(c.job(), conf, c.checkpointIntervalMs(), "bonestream");
    out.println("streaming trainer running: job " + client.getJobID());
    out.println("  kafka:   " + c.job().bootstrapServers() + "  (" + c.job().instructionsTopic() + " -> "
        + c.job().adaptersTopic() + ", dead letters " + c.job().deadLetterTopic() + ")");
    out.println("  web UI:  http://localhost:" + conf.getString("rest.port", "8081"));
    out.println("  metrics: http://localhost:" + conf.getString("metrics.reporter.prom.port", "9249") + "/metrics");
    out.println("Ctrl-C stops it.");
    out.flush();
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        client.cancel().get();
      } catch (Exception ignored) {
        // the job may already be gone
      }
      done.countDown();
    }));
    client.getJobExecutionResult().whenComplete((r, e) -> done.countDown());
    done.await();
    return 0;
  }
}
