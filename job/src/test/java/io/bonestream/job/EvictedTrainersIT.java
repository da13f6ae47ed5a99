package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training state is written into Flink's keyed state when a checkpoint is taken, not after
 * every step; a trainer evicted from the operator's cache writes its unsaved state under its own
 * key. With a cache of one trainer and three interleaved adapters (every step evicts another
 * adapter's trainer), checkpoints every 100 ms and a failure right after a checkpoint that holds
 * the first half of the input, the job restores that checkpoint and trains the second half from
 * it; every version of every adapter is published once and is byte for byte the version of an
 * uninterrupted run with a large cache.
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
  /** The first completed checkpoint taken after the first half's manifests, -1 until there is one. */
  private static final AtomicLong ARMED_BY = new AtomicLong(-1);
  /** The manifests of the input's first half: 8 records per adapter, 2 per step, a version every 2 steps. */
  private static final int FIRST_HALF = ADAPTERS.size() * VERSIONS / 2;

  /**
   * Notes the first checkpoint that completes after the first half's manifests passed, then fails
   * the job once at the next manifest (the second half's first): the job must restore that
   * checkpoint, with trainers evicted with unsaved steps in it, and train the second half from it.
   * Notes the checkpoint the job restored.
   */
  static final class FailOnce implements MapFunction<EncodedRecord, EncodedRecord>, CheckpointedFunction,
      CheckpointListener {
    private final Map<Long, Integer> passedAt = new java.util.concurrent.ConcurrentHashMap<>();

    @Override
    public EncodedRecord map(EncodedRecord r) {
      if (ARMED_BY.get() >= 0 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure after checkpoint " + ARMED_BY.get());
      }
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
      if (passedAt.getOrDefault(checkpointId, 0) >= FIRST_HALF) {
        ARMED_BY.compareAndSet(-1, checkpointId);
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
      }
      Map<String, byte[]> whole = versions(kafka, job(kafka, "whole").build(), half(kafka, "whole", 0), () -> {
        produce(kafka, "whole", 1);
        return true;
      });
      Map<String, byte[]> evicted = versions(kafka, job(kafka, "evict").maxCachedAdapters(1)
          .manifestStep(new FailOnce()).build(), half(kafka, "evict", 0), () -> {
            if (ARMED_BY.get() < 0) {
              return false; // the first half is not in a completed checkpoint yet
            }
            produce(kafka, "evict", 1);
            return true;
          });
      assertTrue(FAILED.get(), "the failure was not injected");
      assertTrue(RESTORED_FROM.get() >= ARMED_BY.get() && ARMED_BY.get() > 0, "failed after checkpoint "
          + ARMED_BY.get() + " but restored " + RESTORED_FROM.get() + " (-1: none)");
      assertEquals(whole.keySet(), evicted.keySet());
      for (String key : whole.keySet()) {
        assertArrayEquals(whole.get(key), evicted.get(key), key + ": adapter bytes differ");
      }
    }
  }

  /** Produces half {@code h} (0 or 1) of the input: 8 records per adapter, interleaved. */
  private static Runnable half(EmbeddedKafka kafka, String prefix, int h) {
    return () -> produce(kafka, prefix, h);
  }

  private static void produce(EmbeddedKafka kafka, String prefix, int h) {
    try {
      String topic = prefix + ".instructions";
      StreamingHarness.produce(kafka.bootstrapServers(), topic, StreamingHarness.interleave(
          StreamingHarness.asRecords(topic, StreamingHarness.colors("colors", 16).subList(8 * h, 8 * h + 8)),
          StreamingHarness.asRecords(topic, StreamingHarness.opposites("opposites", 16).subList(8 * h, 8 * h + 8)),
          StreamingHarness.asRecords(topic, StreamingHarness.colors("more", 16).subList(8 * h, 8 * h + 8))));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private StreamingJob.Builder job(EmbeddedKafka kafka, String prefix) {
    return StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve(prefix + "-blobs"))
        .batchPolicy(io.bonestream.operators.train.BatchPolicy.ofExamples(2))
        .snapshotPolicy(new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT,
            tmp.resolve(prefix + "-blobs").toUri().toString()));
  }

  /**
   * Runs the job on the first half of the input, then on the second half once {@code secondHalf}
   * says it sent it (polled until then), until every adapter published its last version:
   * "adapter@version" to its bytes.
   */
  private Map<String, byte[]> versions(EmbeddedKafka kafka, StreamingJob job, Runnable firstHalf,
      BooleanSupplier secondHalf) throws Exception {
    firstHalf.run();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    env.enableCheckpointing(100, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    JobClient client = env.executeAsync("evicted-trainers");
    List<AdapterSnapshot> snaps;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(), Duration.ofSeconds(60),
          s -> s.size() >= FIRST_HALF);
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (!secondHalf.getAsBoolean()) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("no checkpoint completed after the first half within 60 s");
        }
        Thread.sleep(50);
      }
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(), Duration.ofSeconds(120),
          s -> s.size() >= ADAPTERS.size() * VERSIONS);
      // all input trained: end the run (its transactions commit), then read the topic to its end,
      // where a duplicate would show
      StreamingHarness.stopWithSavepoint(client, tmp.resolve("savepoints"));
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
