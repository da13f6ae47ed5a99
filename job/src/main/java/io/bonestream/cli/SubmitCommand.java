package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.job.JobConfig;
import io.bonestream.job.cluster.FlinkRestClient;
import io.bonestream.job.cluster.JarRun;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobStatus;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "submit", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Submits the streaming trainer to a Flink session cluster through its REST API, as",
        "'flink run' does: uploads the application jar, runs it with --config, waits until the",
        "job runs and prints its id. The config file and the model folder it names must be",
        "readable at the same (absolute) paths on the cluster: the JobManager reads the file, every",
        "TaskManager the model. See docs/cluster.md."})
final class SubmitCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--jobmanager", required = true, paramLabel = "URL",
      description = "the JobManager's REST address, e.g. http://localhost:8081")
  String jobManager;

  @Option(names = "--config", required = true, paramLabel = "job.yaml", description = "the job's settings (as for run)")
  Path config;

  @Option(names = "--jar", paramLabel = "FILE",
      description = "the application jar (default: job/target/bonestream-job-*-flink.jar of this build)")
  Path jar;

  @Option(names = "--from-savepoint", paramLabel = "PATH",
      description = "a savepoint or retained checkpoint to start from")
  String savepoint;

  @Option(names = "--parallelism", paramLabel = "N", description = "the job's parallelism (default: the cluster's parallelism.default)")
  Integer parallelism;

  @Override
  public Integer call() {
    if (parallelism != null && parallelism < 1) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--parallelism must be ≥ 1, got " + parallelism);
    }
    PrintWriter out = spec.commandLine().getOut();
    Path configFile = config.toAbsolutePath().normalize();
    // a mistake in the file fails here, with the same message as run; the backend is opened by the
    // cluster's TaskManagers, not on this machine
    JobConfig.read(configFile, false);
    Path applicationJar = jar != null ? jar : defaultJar();
    FlinkRestClient flink = FlinkRestClient.builder().baseUri(jobManager).build();
    String jarId = flink.uploadJar(applicationJar);
    JarRun.Builder run = JarRun.builder().programArgs("--config", configFile.toString()).savepointPath(savepoint);
    if (parallelism != null) {
      run.parallelism(parallelism);
    }
    String jobId = flink.runJar(jarId, run.build());
    JobStatus status = flink.awaitStatus(jobId, Set.of(JobStatus.RUNNING), Duration.ofMinutes(2));
    out.println("job " + jobId + " " + status + " on " + flink.baseUri());
    out.println("  jar:    " + applicationJar + " (uploaded as " + jarId + ")");
    out.println("  config: " + configFile);
    if (savepoint != null) {
      out.println("  from:   " + savepoint);
    }
    out.flush();
    return 0;
  }

  /** The application jar of this build: job/target/bonestream-job-VERSION-flink.jar. */
  private static Path defaultJar() {
    Path target = Path.of(System.getProperty("bonestream.home", "."), "job", "target");
    List<Path> jars;
    try (Stream<Path> files = Files.list(target)) {
      jars = files.filter(f -> f.getFileName().toString().matches("bonestream-job-.*-flink\\.jar")).toList();
    } catch (IOException e) {
      jars = List.of();
    }
    if (jars.size() != 1) {
      throw new BonestreamException("no application jar in " + target.toAbsolutePath().normalize()
          + ": build it (mvn -B package -pl job -am -DskipTests) or pass --jar");
    }
    return jars.get(0);
  }
}
