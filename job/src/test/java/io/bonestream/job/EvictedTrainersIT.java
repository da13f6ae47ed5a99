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
import java.util.concurrent.atomic.AtomicInteger;
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
 * trainer), checkpoints every 100 ms and a failure in the middle, every version of every adapter
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

  /** Fails the job once, after 5 manifests and at least one completed checkpoint. */
  static final class FailOnce implements MapFunction<EncodedRecord, EncodedRecord> {
    @Override
    public EncodedRecord map(EncodedRecord r) throws Exception {
      if (PASSED.incrementAndGet() > 5 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure");
      }
      if (PASSED.get() == 5) {
        Thread.sleep(400); // let checkpoints complete with evicted, unsaved trainers in them
      }
      return r;
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
  private static Map<String, byte[]> versions(EmbeddedKafka kafka, StreamingJob job) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    env.enableCheckpointing(100, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    JobClient client = env.executeAsync("evicted-trainers");
    List<AdapterSnapshot> snaps;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(), Duration.ofSeconds(180),
          s -> s.size() >= ADAPTERS.size() * VERSIONS);
      Thread.sleep(1000); // anything more would be a duplicate
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(), Duration.ofSeconds(5),
          s -> false);
    } finally {
      client.cancel().get();
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
