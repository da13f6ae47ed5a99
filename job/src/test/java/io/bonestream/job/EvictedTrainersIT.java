package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.SnapshotPolicy;
import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training state is written into Flink's keyed state when a checkpoint is taken, not after
 * every step; a trainer evicted from the operator's cache writes its unsaved state under its own key. With
 * a cache of one trainer and three interleaved adapters (every step evicts another adapter's
 * trainer), checkpoints every 100 ms and a failure right after a checkpoint taken mid-run, the
 * job restores that checkpoint and every version of every adapter
 * is published once and is byte for byte the version of an uninterrupted run with a large cache.
 */
class EvictedTrainersIT {
  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1).build());

  private static final List<String> ADAPTERS = List.of("colors", "opposites", "more");
  private static final int VERSIONS = 4; // 16 records per adapter, 2 per step, a version every 2 steps

  private static final AtomicBoolean FAILED = new AtomicBoolean();
  private static final AtomicInteger PASSED = new AtomicInteger();
  /** The checkpoint the failed job restored, -1 until it restored one. */
  private static final AtomicLong RESTORED_FROM = new AtomicLong(-1);
  private static final AtomicLong FAILED_AFTER = new AtomicLong(-1);

  /**
   * Fails the job once, as soon as a checkpoint taken after 5 manifests has completed (so that it
   * holds trainers evicted with unsaved steps), and notes the checkpoint the job restores.
   */
  static final class FailOnce implements MapFunction<EncodedRecord, EncodedRecord>, CheckpointedFunction,
      CheckpointListener {
    private final Map<Long, Integer> passedAt = new java.util.concurrent.ConcurrentHashMap<>();

    @Override
    public EncodedRecord map(EncodedRecord r) {
      PASSED.incrementAndGet();
      return r;
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) {
      passedAt.put(context.getCheckpointId(), PASSED.get());
    }

    @Override
    public void initializeState(FunctionInitializationContext context) {
      context.getRestoredCheckpointId().ifPresent(RESTORED_FROM::set);
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      if (passedAt.getOrDefault(checkpointId, 0) >= 5 && FAILED.compareAndSet(false, true)) {
        FAILED_AFTER.set(checkpointId);
        throw new IllegalStateException("injected failure after checkpoint " + checkpointId);
      }
    }
  }

  @TempDir Path tmp;

  @Test
  void evictedTrainersLoseNothingAcrossARestoreFromACheckpoint() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String prefix : List.of("whole", "evict")) {
        kafka.createTopic(prefix + ".instructions", 1, false);
        kafka.createTopic(prefix + ".adapters", 1, true);
        kafka.createTopic(prefix + ".dlq", 1, false);
        StreamingHarness.produce(kafka.bootstrapServers(), prefix + ".instructions", StreamingHarness.interleave(
            StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.colors("colors", 16)),
            StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.opposites("opposites", 16)),
            StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.colors("more", 16))));
      }
      Map<String, byte[]> whole = versions(kafka, job(kafka, "whole").build());
      Map<String, byte[]> evicted = versions(kafka, job(kafka, "evict").maxCachedAdapters(1)
          .manifestStep(new FailOnce()).build());
      assertTrue(FAILED.get(), "the failure was not injected");
      assertTrue(RESTORED_FROM.get() >= FAILED_AFTER.get() && FAILED_AFTER.get() > 0, "failed after checkpoint "
          + FAILED_AFTER.get() + " but restored " + RESTORED_FROM.get() + " (-1: none)");
      assertEquals(whole.keySet(), evicted.keySet());
      for (String key : whole.keySet()) {
        assertArrayEquals(whole.get(key), evicted.get(key), key + ": adapter bytes differ");
      }
    }
  }

  private StreamingJob.Builder job(EmbeddedKafka kafka, String prefix) {
    return StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve(prefix + "-blobs"))
        .batchPolicy(io.bonestream.operators.BatchPolicy.ofExamples(2))
        .snapshotPolicy(new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT,
            tmp.resolve(prefix + "-blobs").toUri().toString()));
  }

  /** Runs the job until every adapter published its last version: "adapter@version" to its bytes. */
  private Map<String, byte[]> versions(EmbeddedKafka kafka, StreamingJob job) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    env.enableCheckpointing(100, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    JobClient client = env.executeAsync("evicted-trainers");
    List<AdapterSnapshot> snaps;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(), Duration.ofSeconds(180),
          s -> s.size() >= ADAPTERS.size() * VERSIONS);
      // all input trained: end the run (its transactions commit), then read the topic to its end,
      // where a duplicate would show
      client.stopWithSavepoint(false, tmp.resolve("savepoints").toUri().toString(),
          SavepointFormatType.CANONICAL).get(1, TimeUnit.MINUTES);
      snaps = StreamingHarness.allSnapshots(kafka.bootstrapServers(), job.adaptersTopic());
    } finally {
      if (!client.getJobStatus().get(1, TimeUnit.MINUTES).isGloballyTerminalState()) {
        client.cancel().get(1, TimeUnit.MINUTES);
      }
    }
    Map<String, byte[]> out = new TreeMap<>();
    for (AdapterSnapshot s : snaps) {
      byte[] prev = out.put(s.getAdapterId() + "@" + s.getVersion(), bytes(s));
      assertEquals(null, prev, s.getAdapterId() + "@" + s.getVersion() + " published twice");
    }
    assertEquals(ADAPTERS.size() * VERSIONS, out.size(), out.keySet().toString());
    return out;
  }

  private static byte[] bytes(AdapterSnapshot s) {
    ByteBuffer b = ((InlineAdapter) s.getPayload()).getAdapterModelSafetensors().duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
