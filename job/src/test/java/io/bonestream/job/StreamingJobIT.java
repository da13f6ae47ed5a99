package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The streaming trainer end to end on a real KRaft broker and a Flink MiniCluster. */
class StreamingJobIT {
  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  static EmbeddedKafka kafka;
  @TempDir static Path tmp;

  @BeforeAll
  static void startKafka() {
    kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
  }

  @AfterAll
  static void stopKafka() {
    kafka.close();
  }

  private static void topics(String prefix, int instructionPartitions) {
    kafka.createTopic(prefix + ".instructions", instructionPartitions, false);
    kafka.createTopic(prefix + ".adapters", 1, true);
    kafka.createTopic(prefix + ".dlq", 1, false);
  }

  private static JobClient start(StreamingJob job) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    env.enableCheckpointing(500, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    return env.executeAsync("bonestream-it");
  }

  @Test
  void versionsLineageAndFallingLossForInterleavedAdapters() throws Exception {
    String prefix = "it1";
    topics(prefix, 2);
    var records = StreamingHarness.interleave(
        StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.colors("colors", 32)),
        StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.opposites("opposites", 32)));
    Map<String, Map<Integer, List<Long>>> offsets = StreamingHarness.produce(kafka.bootstrapServers(),
        prefix + ".instructions", records);
    JobClient job = start(StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve("blobs1")).build());
    List<AdapterSnapshot> snaps;
    try {
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), prefix + ".adapters",
          Duration.ofSeconds(120), s -> s.size() >= 8);
    } finally {
      job.cancel().get();
    }
    assertEquals(8, snaps.size(), "32 records per adapter, 4 per step, a version every 2 steps");
    for (String adapter : List.of("colors", "opposites")) {
      List<AdapterSnapshot> mine = snaps.stream().filter(s -> s.getAdapterId().equals(adapter)).toList();
      assertEquals(List.of(1L, 2L, 3L, 4L), mine.stream().map(AdapterSnapshot::getVersion).toList());
      // lineage: every record of this adapter in exactly one version, nothing else
      List<Long> covered = new ArrayList<>();
      long trained = 0;
      for (AdapterSnapshot s : mine) {
        for (OffsetRange r : s.getLineage()) {
          List<Long> produced = offsets.get(adapter).get(r.getPartition());
          List<Long> inRange = produced.stream()
              .filter(o -> o >= r.getFirstOffset() && o <= r.getLastOffset()).toList();
          assertEquals(r.getRecords(), inRange.size(), "range holds exactly its records");
          covered.addAll(inRange);
          trained += r.getRecords();
        }
      }
      List<Long> all = offsets.get(adapter).values().stream().flatMap(List::stream).sorted().toList();
      assertEquals(all, covered.stream().sorted().toList(), adapter + ": lineage covers each record once");
      assertEquals(32, trained);
      assertEquals(32, mine.get(3).getStats().getExamples());
      assertEquals(8, mine.get(3).getStats().getStep());
      double first = mine.get(0).getStats().getLastLoss();
      double last = mine.get(3).getStats().getLastLoss();
      assertTrue(last < 0.7 * first, adapter + ": loss " + first + " -> " + last);
      assertTrue(mine.get(3).getPayload() instanceof InlineAdapter);
      assertEquals("bat", mine.get(3).getMethod());
      assertEquals(64, mine.get(3).getBaseModel().getWeightsSha256().length());
    }
  }
}
