package io.bonestream.job;

import java.nio.file.Path;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The entry point of the application jar on a Flink cluster ({@code flink run}, or the REST API's
 * {@code /jars/:id/run}): {@code --config job.yaml}, the settings of {@code bonestream run}. It
 * builds the same pipeline on the cluster's environment, with checkpoints in the file's checkpoint
 * folder, laid out as {@code run} keeps them. The cluster's own config.yaml decides the
 * state backend, restarts and default parallelism (the file's {@code flink:} section is for
 * {@code run}'s in-process runtime only). The file and the model folder it names must be readable
 * where the program runs: the JobManager (REST) or the client ({@code flink run}), and the model on
 * every TaskManager.
 */
public final class FlinkApplication {
  public static final String JOB_NAME = "bonestream";

  private FlinkApplication() {}

  public static void main(String[] args) throws Exception {
    // the TaskManagers open the training backend: the JobManager that runs this needs no GPU
    JobConfig c = JobConfig.read(configFile(args), false);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    // checkpoints go where run keeps them (<dir>/<job id>/chk-<n>); savepoints go where the stop
    // request says, else to the cluster's execution.checkpointing.savepoint-dir
    Configuration checkpoints = new Configuration();
    checkpoints.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, c.checkpointDir());
    env.configure(checkpoints);
    JobEnvironment.configure(env, c.checkpointIntervalMs());
    c.job().addTo(env);
    env.execute(JOB_NAME);
  }

  /** The one argument: {@code --config PATH}. */
  static Path configFile(String[] args) {
    if (args.length != 2 || !args[0].equals("--config")) {
      throw new IllegalArgumentException("usage: --config job.yaml (got " + String.join(" ", args) + ")");
    }
    return Path.of(args[1]);
  }
}
