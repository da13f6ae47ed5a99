package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InstructionRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * State written by an earlier build restores: a savepoint made by the build of 2026-12-06 (before
 * the engine's packages and state codecs were reorganised), committed under
 * {@code src/test/resources/fixtures/savepoint-2026-12-06}, is restored by today's job, which then
 * publishes what an uninterrupted run publishes (the same manifests; the adapters equal up to
 * float32 rounding, {@link #assertContinues}). Two adapters, one {@code bat} and one
 * {@code bone}, each with AdamW state, two versions each at the savepoint.
 *
 * <p>The fixture was written once with {@code -Dbonestream.writeFixture=true} (this class, the
 * method {@link #writeTheFixture}); it must not be rewritten after state classes move: its point
 * is to be old.
 */
class EarlierStateIT {
  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(1).build());

  static final Path FIXTURE = Path.of("src/test/resources/fixtures/savepoint-2026-12-06");
  static final String PREFIX = "earlier";
  static final int HALF = 16;

  @TempDir Path tmp;

  /** The job of the fixture: bat r 4 by default, bone r 4 for the adapter "earlier-bone". */
  static StreamingJob job(String bootstrap, Path blobs) {
    AdapterProfile bone = new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    StreamingJob.Builder b = StreamingHarness.job(bootstrap, PREFIX, blobs);
    AdapterProfiles defaults = b.build().profiles();
    return b.profiles(new AdapterProfiles(defaults.defaults(),
        List.of(new AdapterProfiles.Override("earlier-bone", bone)))).build();
  }

  /** 32 records per adapter, interleaved; the first {@link #HALF} of each before the savepoint. */
  static List<InstructionRecord> records(boolean firstHalf) throws Exception {
    List<InstructionRecord> bat = StreamingHarness.colors("earlier-bat", 2 * HALF);
    List<InstructionRecord> bone = StreamingHarness.opposites("earlier-bone", 2 * HALF);
    return StreamingHarness.interleave(firstHalf ? bat.subList(0, HALF) : bat.subList(HALF, 2 * HALF),
        firstHalf ? bone.subList(0, HALF) : bone.subList(HALF, 2 * HALF));
  }

  static void topics(EmbeddedKafka kafka) {
    kafka.createTopic(PREFIX + ".instructions", 1, false);
    kafka.createTopic(PREFIX + ".adapters", 1, true);
    kafka.createTopic(PREFIX + ".dlq", 1, false);
    kafka.createTopic(PREFIX + ".gated", 1, false);
  }

  static JobClient start(StreamingJob job, String restoreFrom) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    if (restoreFrom != null) {
      Configuration conf = new Configuration();
      conf.set(StateRecoveryOptions.SAVEPOINT_PATH, restoreFrom);
      env.configure(conf);
    }
    env.setParallelism(1);
    env.enableCheckpointing(500, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    return env.executeAsync("earlier-state");
  }

  static void produce(EmbeddedKafka kafka, List<InstructionRecord> records) throws Exception {
    StreamingHarness.produce(kafka.bootstrapServers(), PREFIX + ".instructions",
        StreamingHarness.asRecords(PREFIX + ".instructions", records));
  }

  /** A manifest without its creation time (the only thing two runs may differ in). */
  static AdapterSnapshot comparable(AdapterSnapshot s) {
    return AdapterSnapshot.newBuilder(s).setCreatedAt(Instant.EPOCH).build();
  }

  @Test
  void aSavepointOfAnEarlierBuildRestoresAndContinuesExactly() throws Exception {
    assertTrue(Files.isRegularFile(FIXTURE.resolve("_metadata")), "no savepoint fixture at " + FIXTURE.toAbsolutePath());
    // the uninterrupted run: all 32 records per adapter, 4 versions each
    List<AdapterSnapshot> straight;
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka-straight"), true)) {
      topics(kafka);
      produce(kafka, records(true));
      produce(kafka, records(false));
      JobClient run = start(job(kafka.bootstrapServers(), tmp.resolve("blobs-straight")), null);
      straight = StreamingHarness.readSnapshots(kafka.bootstrapServers(), PREFIX + ".adapters",
          Duration.ofSeconds(180), s -> s.size() >= 8);
      run.cancel().get();
    }
    assertEquals(8, straight.size(), "versions of the uninterrupted run");

    // the fixture's savepoint, restored on a new broker holding the same records
    Path savepoint = tmp.resolve("savepoint");
    copy(FIXTURE, savepoint);
    List<AdapterSnapshot> resumed;
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka-resumed"), true)) {
      topics(kafka);
      produce(kafka, records(true));
      produce(kafka, records(false));
      JobClient run = start(job(kafka.bootstrapServers(), tmp.resolve("blobs-resumed")), savepoint.toUri().toString());
      resumed = StreamingHarness.readSnapshots(kafka.bootstrapServers(), PREFIX + ".adapters",
          Duration.ofSeconds(180), s -> s.size() >= 4);
      run.cancel().get();
    }
    // versions 3 and 4 of each adapter, trained on the second half from the restored state
    assertEquals(4, resumed.size(), "versions after the restore: " + resumed);
    for (AdapterSnapshot r : resumed) {
      AdapterSnapshot s = straight.stream().filter(x -> x.getAdapterId().equals(r.getAdapterId())
          && x.getVersion() == r.getVersion()).findFirst()
          .orElseThrow(() -> new AssertionError("the uninterrupted run has no " + r.getAdapterId() + "@" + r.getVersion()));
      assertTrue(r.getVersion() >= 3, r.getAdapterId() + "@" + r.getVersion() + ": numbering did not continue");
      assertContinues(s, r);
    }
  }

  /**
   * A version continued from the earlier build's state against today's uninterrupted run: the same
   * manifest (ids, numbering, lineage, counts, config) and the same adapter up to float32 rounding.
   * Not bytes: the first half of the restored run was computed by the earlier build, and today's
   * engine may sum in another order (the fused attention of a later change does); a restore that
   * lost or zeroed the state differs by whole units, not by rounding.
   */
  private static final io.bonestream.schemas.InlineAdapter EMPTY = io.bonestream.schemas.InlineAdapter.newBuilder()
      .setAdapterConfigJson("").setAdapterModelSafetensors(java.nio.ByteBuffer.allocate(0)).build();

  static void assertContinues(AdapterSnapshot expected, AdapterSnapshot actual) {
    String name = actual.getAdapterId() + "@" + actual.getVersion();
    AdapterSnapshot e = AdapterSnapshot.newBuilder(comparable(expected)).setPayload(EMPTY)
        .setStats(io.bonestream.schemas.TrainingStats.newBuilder(expected.getStats()).setLastLoss(0).setLossEma(0).build())
        .build();
    AdapterSnapshot a = AdapterSnapshot.newBuilder(comparable(actual)).setPayload(EMPTY)
        .setStats(io.bonestream.schemas.TrainingStats.newBuilder(actual.getStats()).setLastLoss(0).setLossEma(0).build())
        .build();
    assertEquals(e.toString(), a.toString(), name + ": the manifest differs from the uninterrupted run's");
    assertEquals(expected.getStats().getLastLoss(), actual.getStats().getLastLoss(),
        1e-4 * Math.abs(expected.getStats().getLastLoss()), name + ": last loss");
    assertEquals(expected.getStats().getLossEma(), actual.getStats().getLossEma(),
        1e-4 * Math.abs(expected.getStats().getLossEma()), name + ": loss EMA");
    io.bonestream.schemas.InlineAdapter ei = (io.bonestream.schemas.InlineAdapter) expected.getPayload();
    io.bonestream.schemas.InlineAdapter ai = (io.bonestream.schemas.InlineAdapter) actual.getPayload();
    assertEquals(ei.getAdapterConfigJson(), ai.getAdapterConfigJson(), name + ": adapter_config.json");
    io.bonestream.cli.AdapterTensors.assertClose(name, bytes(ei.getAdapterModelSafetensors()),
        bytes(ai.getAdapterModelSafetensors()));
  }

  private static byte[] bytes(java.nio.ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  /** Writes the fixture (run once, on the build whose state it keeps): -Dbonestream.writeFixture=true. */
  @Test
  void writeTheFixture() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("bonestream.writeFixture"),
        "writes the fixture only when asked (-Dbonestream.writeFixture=true)");
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      topics(kafka);
      produce(kafka, records(true));
      JobClient run = start(job(kafka.bootstrapServers(), tmp.resolve("blobs")), null);
      List<AdapterSnapshot> s = StreamingHarness.readSnapshots(kafka.bootstrapServers(), PREFIX + ".adapters",
          Duration.ofSeconds(180), x -> x.size() >= 4);
      assertEquals(4, s.size());
      String path = StreamingHarness.stopWithSavepoint(run, tmp.resolve("savepoints"));
      Path written = Path.of(java.net.URI.create(path.startsWith("file:") ? path : "file:" + path));
      deleteTree(FIXTURE);
      copy(written, FIXTURE);
    }
  }

  private static void copy(Path from, Path to) throws Exception {
    List<Path> all;
    try (Stream<Path> s = Files.walk(from)) {
      all = s.toList();
    }
    for (Path p : all) {
      Path target = to.resolve(from.relativize(p).toString());
      if (Files.isDirectory(p)) {
        Files.createDirectories(target);
      } else {
        Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }

  private static void deleteTree(Path dir) throws Exception {
    if (!Files.exists(dir)) {
      return;
    }
    List<Path> all;
    try (Stream<Path> s = Files.walk(dir)) {
      all = new ArrayList<>(s.toList());
    }
    all.sort(Comparator.reverseOrder());
    for (Path p : all) {
      Files.delete(p);
    }
  }
}
