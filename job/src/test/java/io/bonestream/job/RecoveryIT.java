package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.FileTrees;
import io.bonestream.engine.TestFiles;
import io.bonestream.job.recovery.GracefulStop;
import io.bonestream.job.recovery.Recovery;
import io.bonestream.operators.train.AdapterStateSummary;
import io.bonestream.schemas.AdapterSnapshot;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code run} restores, and what it refuses: a savepoint is read before the restore (adapters,
 * versions, steps); compatible changes (parallelism, snapshot cadence, a new per-adapter override)
 * restore and go on numbering; another base model or another instructions topic is refused with a
 * message naming the difference; an unreadable newest checkpoint is skipped for an older one.
 */
class RecoveryIT {
  static EmbeddedKafka kafka;
  @TempDir static Path tmp;
  static String savepoint;

  @BeforeAll
  static void makeASavepoint() throws Exception {
    kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
    for (String t : List.of("rc.instructions", "rc.adapters", "rc.dlq", "other.instructions")) {
      kafka.createTopic(t, 1, t.endsWith("adapters"));
    }
    StreamingHarness.produce(kafka.bootstrapServers(), "rc.instructions", StreamingHarness.asRecords(
        "rc.instructions", StreamingHarness.interleave(StreamingHarness.colors("a", 16),
            StreamingHarness.opposites("b", 16))));
    JobConfig c = JobConfig.read(yaml("first", "", 1, 2, TestFiles.stories260K(), "rc.instructions"));
    Recovery.Plan fresh = Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap");
    assertFalse(fresh.restores());
    JobClient client = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
        c.flink()), c.checkpointIntervalMs(), "recovery-it", fresh);
    StreamingHarness.readSnapshots(kafka.bootstrapServers(), "rc.adapters", Duration.ofSeconds(120),
        s -> s.size() >= 4);
    StringWriter out = new StringWriter();
    savepoint = GracefulStop.stop(client, c.checkpointDir(), Duration.ofSeconds(60), new PrintWriter(out));
    assertTrue(out.toString().contains("stopped with savepoint"), out.toString());
  }

  @AfterAll
  static void stopKafka() {
    kafka.close();
  }

  @Test
  void aCompatibleChangeRestoresAndGoesOn() throws Exception {
    // parallelism 2, a version every step, and a new override for adapters named c*
    copy(tmp.resolve("first-checkpoints"), tmp.resolve("compat-checkpoints"));
    JobConfig c = JobConfig.read(yaml("compat", "adapters:\n  - match: \"c*\"\n    method: bone\n    r: 2\n", 2, 1,
        TestFiles.stories260K(), "rc.instructions"));
    Recovery.Plan plan = Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap");
    assertTrue(plan.restores());
    assertEquals(savepoint.substring(savepoint.lastIndexOf('/') + 1), plan.point().name());
    assertEquals(List.of("a", "b"), plan.adapters().stream().map(AdapterStateSummary::adapterId).toList());
    for (AdapterStateSummary a : plan.adapters()) {
      assertTrue(a.version() >= 2 && a.step() == 2 * a.version(), a.toString());
    }
    String report = String.join("\n", plan.report());
    assertTrue(report.contains("restoring savepoint"), report);
    assertTrue(report.matches("(?s).*2 adapters: a v\\d+ \\(step \\d+\\).*"), report);

    long restoredA = plan.adapters().get(0).version();
    // more for a, and a new adapter c that the new override matches
    StreamingHarness.produce(kafka.bootstrapServers(), "rc.instructions", StreamingHarness.asRecords(
        "rc.instructions", StreamingHarness.interleave(StreamingHarness.colors("a", 8),
            StreamingHarness.colors("c", 8))));
    JobClient client = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 2, c.checkpointDir(),
        c.flink()), c.checkpointIntervalMs(), "recovery-it-2", plan);
    List<AdapterSnapshot> s;
    try {
      s = StreamingHarness.readSnapshots(kafka.bootstrapServers(), "rc.adapters", Duration.ofSeconds(120),
          x -> x.stream().filter(m -> m.getAdapterId().equals("a")).count() >= restoredA + 2
              && x.stream().anyMatch(m -> m.getAdapterId().equals("c")));
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    List<Long> versions = s.stream().filter(m -> m.getAdapterId().equals("a")).map(AdapterSnapshot::getVersion)
        .toList();
    assertEquals(java.util.stream.LongStream.rangeClosed(1, versions.size()).boxed().toList(), versions);
    assertTrue(versions.size() >= restoredA + 2, versions.toString());
    // the restored adapter keeps its method and rank; the new one trains as the new override says
    for (AdapterSnapshot m : s) {
      boolean c2 = m.getAdapterId().equals("c");
      assertEquals(c2 ? "bone" : "bat", m.getMethod(), m.getAdapterId() + "@" + m.getVersion());
      assertEquals(c2 ? 2 : 4, m.getR(), m.getAdapterId() + "@" + m.getVersion());
    }
  }

  @Test
  void aStopWhoseSavepointDoesNotComeInTimeCancelsAndTheRetainedCheckpointServes() throws Exception {
    JobConfig c = JobConfig.read(yaml("fallback", "", 1, 2, TestFiles.stories260K(), "rc.instructions"));
    JobClient client = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
        c.flink()), c.checkpointIntervalMs(), "recovery-it-fallback",
        Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap"));
    // wait for a completed checkpoint, then give the savepoint no time at all
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (io.bonestream.job.recovery.RestorePoints.list(c.checkpointDir()).isEmpty()
        && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertFalse(io.bonestream.job.recovery.RestorePoints.list(c.checkpointDir()).isEmpty(), "no checkpoint in 120 s");
    // no savepoint can be written: a file stands where the savepoints folder would be
    Path savepoints = Path.of(java.net.URI.create(io.bonestream.job.recovery.RestorePoints.savepointDir(
        c.checkpointDir())));
    Files.createDirectories(savepoints.getParent());
    Files.writeString(savepoints, "in the way");
    StringWriter out = new StringWriter();
    GracefulStop.stop(client, c.checkpointDir(), Duration.ofSeconds(60), new PrintWriter(out));
    assertTrue(out.toString().contains("no savepoint") && out.toString().contains("the next start resumes from"),
        out.toString());
    Recovery.Plan next = Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap");
    // the retained checkpoint, the one the stop named
    assertTrue(next.restores(), next.report().toString());
    assertTrue(next.point().name().startsWith("chk-"), next.point().name());
    assertTrue(out.toString().contains(next.point().path().replace("file:///", "file:/")) || out.toString()
        .contains(next.point().path()), out + "\n" + next.report());
  }

  @Test
  void anotherBaseModelIsRefusedNamingBothFingerprints() throws Exception {
    Path other = tmp.resolve("other-model");
    copy(TestFiles.stories260K(), other);
    try (RandomAccessFile f = new RandomAccessFile(other.resolve("model.safetensors").toFile(), "rw")) {
      f.seek(f.length() - 1);
      int b = f.read();
      f.seek(f.length() - 1);
      f.write(b ^ 1); // one bit of the last weight: another model
    }
    JobConfig c = JobConfig.read(yaml("first", "", 1, 2, other, "rc.instructions"));
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap"));
    String fp = c.job().baseModelFingerprint().substring(0, 12);
    assertTrue(e.getMessage().contains("trained on base model") && e.getMessage().contains(fp)
        && e.getMessage().contains("--fresh"), e.getMessage());
  }

  @Test
  void anotherInstructionsTopicIsRefused() {
    JobConfig c = JobConfig.read(yaml("first", "", 1, 2, TestFiles.stories260K(), "other.instructions"));
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> Recovery.plan(c.job(), c.checkpointDir(), null, false, "hashmap"));
    assertTrue(e.getMessage().contains("'rc.instructions'") && e.getMessage().contains("'other.instructions'"),
        e.getMessage());
  }

  @Test
  void badRestoreRequestsAreClearErrors() {
    JobConfig c = JobConfig.read(yaml("first", "", 1, 2, TestFiles.stories260K(), "rc.instructions"));
    BonestreamException missing = assertThrows(BonestreamException.class,
        () -> Recovery.plan(c.job(), c.checkpointDir(), tmp.resolve("nowhere").toString(), false, "hashmap"));
    assertTrue(missing.getMessage().startsWith("no checkpoint or savepoint at"), missing.getMessage());
    BonestreamException both = assertThrows(BonestreamException.class,
        () -> Recovery.plan(c.job(), c.checkpointDir(), savepoint, true, "hashmap"));
    assertTrue(both.getMessage().contains("exclude each other"), both.getMessage());
  }

  @Test
  void anUnreadableNewestCheckpointIsSkippedForAnOlderOne() throws Exception {
    Path dir = tmp.resolve("corrupt-checkpoints");
    copy(tmp.resolve("first-checkpoints"), dir);
    // a newer "checkpoint" whose metadata is garbage
    Path bogus = dir.resolve("0123456789abcdef0123456789abcdef").resolve("chk-9");
    Files.createDirectories(bogus);
    Files.writeString(bogus.resolve("_metadata"), "not a checkpoint");
    JobConfig c = JobConfig.read(yaml("first", "", 1, 2, TestFiles.stories260K(), "rc.instructions"));
    Recovery.Plan plan = Recovery.plan(c.job(), dir.toUri().toString(), null, false, "hashmap");
    assertTrue(plan.restores());
    assertTrue(plan.report().get(0).startsWith("skipped: cannot read checkpoint chk-9"), plan.report().toString());
  }

  private static void copy(Path from, Path to) throws Exception {
    FileTrees.delete(to);
    try (Stream<Path> files = Files.walk(from)) {
      for (Path p : files.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        try {
          if (Files.isDirectory(p)) {
            Files.createDirectories(target);
          } else {
            Files.copy(p, target, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
          }
        } catch (java.nio.file.NoSuchFileException gone) {
          // Flink still discarding a subsumed checkpoint of the stopped job
        }
      }
    }
  }

  private static Path yaml(String name, String extra, int parallelism, int everySteps, Path model, String topic) {
    try {
      Path file = tmp.resolve(name + "-" + System.nanoTime() + ".yaml");
      Files.writeString(file, String.join("\n",
          "kafka:",
          "  bootstrap-servers: " + kafka.bootstrapServers(),
          "  group-id: rc",
          "  transactional-id-prefix: rc",
          "topics:",
          "  instructions: " + topic,
          "  adapters: rc.adapters",
          "  dead-letters: rc.dlq",
          "model: " + model,
          "max-seq-len: 64",
          "checkpoints:",
          "  dir: " + tmp.resolve(name + "-checkpoints").toUri(),
          "  interval: 1s",
          "blob-store: " + tmp.resolve("blobs").toUri(),
          "flink:",
          "  parallelism.default: \"" + parallelism + "\"",
          "adapter-defaults:",
          "  method: bat",
          "  r: 4",
          "  lr: 1.0e-2",
          "  micro-batch-size: 4",
          "batching:",
          "  max-examples: 4",
          "snapshots:",
          "  every-steps: " + everySteps,
          extra));
      return file;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
