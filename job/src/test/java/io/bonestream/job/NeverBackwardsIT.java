package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.InstructionRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Defense in depth when the Flink state is lost or old: the adapters topic decides the next version
 * number, and a lost adapter continues from its newest published snapshot. Here through Kafka and
 * Flink's savepoints; the operator alone, and what it does without reading the topic, in
 * {@code NeverBackwardsHarnessTest}.
 */
class NeverBackwardsIT {
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

  private static void topics(String prefix) {
    kafka.createTopic(prefix + ".instructions", 1, false);
    kafka.createTopic(prefix + ".adapters", 1, true);
    kafka.createTopic(prefix + ".dlq", 1, false);
  }

  private static JobClient start(StreamingJob job, String restoreFrom) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    if (restoreFrom != null) {
      Configuration conf = new Configuration();
      conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
      env.configure(conf);
    }
    env.setParallelism(1);
    env.enableCheckpointing(500, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    return env.executeAsync("never-backwards");
  }

  private static List<AdapterSnapshot> await(String prefix, int n) {
    List<AdapterSnapshot> s = StreamingHarness.readSnapshots(kafka.bootstrapServers(), prefix + ".adapters",
        Duration.ofSeconds(120), x -> x.size() >= n);
    assertTrue(s.size() >= n, "only " + s.size() + " of " + n + " versions");
    return s;
  }

  /** Waits until the source committed its offsets up to {@code offset}, so a new job goes on from there. */
  private static void awaitCommittedOffset(String group, long offset) throws Exception {
    try (Admin admin = kafka.admin()) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < deadline) {
        Map<org.apache.kafka.common.TopicPartition, OffsetAndMetadata> o =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
        if (o.values().stream().anyMatch(m -> m != null && m.offset() >= offset)) {
          return;
        }
        Thread.sleep(100);
      }
    }
    throw new AssertionError("the source never committed offset " + offset);
  }

  private static void produce(String prefix, List<InstructionRecord> records) throws Exception {
    StreamingHarness.produce(kafka.bootstrapServers(), prefix + ".instructions",
        StreamingHarness.asRecords(prefix + ".instructions", records));
  }

  @Test
  void anAdapterWhoseStateIsLostContinuesFromItsNewestPublishedVersion() throws Exception {
    String prefix = "lost";
    topics(prefix);
    List<InstructionRecord> records = StreamingHarness.colors("a", 32);
    produce(prefix, records.subList(0, 24));
    StreamingJob job = StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve("blobs-lost")).build();
    JobClient first = start(job, null);
    try {
      await(prefix, 3);
      awaitCommittedOffset(prefix, 24);
    } finally {
      first.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    // the checkpoints are gone: the next job starts without state, from the committed offsets
    produce(prefix, records.subList(24, 32));
    JobClient second = start(job, null);
    List<AdapterSnapshot> s;
    try {
      s = await(prefix, 4);
    } finally {
      second.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    assertEquals(List.of(1L, 2L, 3L, 4L), s.stream().map(AdapterSnapshot::getVersion).toList());
    AdapterSnapshot v3 = s.get(2);
    AdapterSnapshot v4 = s.get(3);
    assertEquals(3, v4.getResumedFrom().getVersion());
    assertEquals("NO_STATE", v4.getResumedFrom().getReason());
    assertTrue(v4.getResumedFrom().getFreshOptimizer());
    assertEquals(8, v4.getStats().getStep(), "the step count goes on from version 3's");
    assertEquals(32, v4.getStats().getExamples());
    assertNull(v3.getResumedFrom());

    // independently: version 3's adapter, a fresh AdamW, two steps on records 24..31, in the engine
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    byte[] expected;
    try (Tokenizer tokenizer = Tokenizer.load(TestFiles.stories260K(), base.config())) {
      InlineAdapter in = (InlineAdapter) v3.getPayload();
      AdapterSet adapters = PeftImporter.read(in.getAdapterConfigJson(), VersionHistory.adapterBytes(v3), base, "v3");
      TrainConfig config = TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build();
      Trainer t = Trainer.continueFrom(base, adapters, config, 6, 0, v3.getStats().getTokens(), 24);
      ExampleEncoder enc = new ExampleEncoder(tokenizer, 64, base.config().vocabSize());
      for (int step = 0; step < 2; step++) {
        List<Example> batch = new ArrayList<>();
        for (InstructionRecord r : records.subList(24 + 4 * step, 28 + 4 * step)) {
          batch.add(enc.promptResponse(null, r.getPrompt(), r.getResponse()));
        }
        t.step(batch);
      }
      expected = PeftExporter.render(t.adapters(), base, PeftFormat.MISS, 4).weights();
    }
    assertEquals(AdapterMethod.BAT.id(), v4.getMethod());
    assertArrayEquals(expected, VersionHistory.adapterBytes(v4));
  }

  @Test
  void restoringAnOlderSavepointNumbersVersionsAfterTheNewestPublished() throws Exception {
    String prefix = "stale";
    topics(prefix);
    List<InstructionRecord> records = StreamingHarness.colors("a", 32);
    produce(prefix, records.subList(0, 16));
    StreamingJob job = StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve("blobs-stale")).build();
    JobClient a = start(job, null);
    String savepoint;
    try {
      await(prefix, 2);
    } finally {
      savepoint = a.stopWithSavepoint(false, tmp.resolve("savepoints").toUri().toString(),
          SavepointFormatType.CANONICAL).get(60, TimeUnit.SECONDS);
    }
    produce(prefix, records.subList(16, 32));
    JobClient b = start(job, savepoint);
    try {
      await(prefix, 4);
    } finally {
      b.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    // the operator goes back to the old savepoint: it replays records 16..31 from version 2's state
    JobClient c = start(job, savepoint);
    List<AdapterSnapshot> s;
    try {
      await(prefix, 6);
      // the input is all trained: end the run (its transactions commit) and read the topic to its
      // end, where a duplicate would show
      StreamingHarness.stopWithSavepoint(c, tmp.resolve("savepoints"));
      s = StreamingHarness.allSnapshots(kafka.bootstrapServers(), prefix + ".adapters");
    } finally {
      if (!c.getJobStatus().get(60, TimeUnit.SECONDS).isGloballyTerminalState()) {
        c.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
    }
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), s.stream().map(AdapterSnapshot::getVersion).toList());
    assertEquals(2, s.get(4).getResumedFrom().getVersion());
    assertEquals("STALE_STATE", s.get(4).getResumedFrom().getReason());
    assertEquals(false, s.get(4).getResumedFrom().getFreshOptimizer());
    assertNull(s.get(5).getResumedFrom());
    // the same state and records as the run that made versions 3 and 4: the same adapters
    assertArrayEquals(VersionHistory.adapterBytes(s.get(2)), VersionHistory.adapterBytes(s.get(4)));
    assertArrayEquals(VersionHistory.adapterBytes(s.get(3)), VersionHistory.adapterBytes(s.get(5)));
  }
}
