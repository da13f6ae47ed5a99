package io.bonestream.job;

import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * What every runtime of the streaming job sets on its environment, in process ({@code run},
 * {@code demo}) or on a Flink cluster ({@link FlinkApplication}).
 */
public final class JobEnvironment {
  /**
   * The key groups of the adapters' keyed state: the most subtasks the job can be rescaled to. A
   * savepoint restores only into the same value: one value for every runtime, so that state moves
   * between {@code run} and a cluster.
   */
  public static final int MAX_PARALLELISM = 128;

  private JobEnvironment() {}

  /**
   * Exactly-once checkpoints every {@code checkpointIntervalMs} (the Kafka transactions commit on
   * them), kept when the job is cancelled so that it can resume, and a fixed max parallelism.
   */
  public static void configure(StreamExecutionEnvironment env, long checkpointIntervalMs) {
    env.enableCheckpointing(checkpointIntervalMs, CheckpointingMode.EXACTLY_ONCE);
    env.getCheckpointConfig().setExternalizedCheckpointRetention(
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
    env.setMaxParallelism(MAX_PARALLELISM);
  }
}
