package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.job.recovery.Recovery;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InstructionRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bonestream run} as users run it, in its own process: started, stopped with SIGTERM,
 * started again, killed with kill -9, started again with another parallelism (3 instead of 2, from
 * the retained unaligned checkpoint the kill left), stopped again, started a last time with
 * parallelism 2, with more records produced while it was down. Its adapters topic must hold exactly
 * what one uninterrupted run over the same records publishes: the same versions 1..N per adapter,
 * each once, with the same bytes and lineage.
 */
class RunRestartIT {
  private static final int PER_ADAPTER = 48;
  private static final List<String> ADAPTERS = List.of("alpha", "beta", "gamma");
  /** batch 4, a version every 2 steps: 48 records give 6 versions. */
  private static final int VERSIONS_PER_ADAPTER = 6;

  @TempDir Path tmp;

  @Test
  void stopKillAndRestartGiveTheVersionsOfOneUninterruptedRun() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      String bootstrap = kafka.bootstrapServers();
      for (String prefix : List.of("ref", "rr")) {
        kafka.createTopic(prefix + ".instructions", 2, false);
        kafka.createTopic(prefix + ".adapters", 1, true);
        kafka.createTopic(prefix + ".dlq", 1, false);
      }
      List<InstructionRecord> records = StreamingHarness.interleave(
          StreamingHarness.colors("alpha", PER_ADAPTER), StreamingHarness.opposites("beta", PER_ADAPTER),
          StreamingHarness.colors("gamma", PER_ADAPTER));
      int total = ADAPTERS.size() * VERSIONS_PER_ADAPTER;

      // the uninterrupted run over every record, in its own process like the others: a process
      // computes with its own thread count (results are bit-identical for a fixed count only), which
      // this JVM's earlier tests may have set to something else
      StreamingHarness.produce(bootstrap, "ref.instructions", StreamingHarness.asRecords("ref.instructions", records));
      List<AdapterSnapshot> expected;
      try (CliProcess run = CliProcess.start(tmp.resolve("ref.log"), "run", "--config",
          yaml("ref", bootstrap).toString())) {
        try {
          expected = StreamingHarness.readSnapshots(bootstrap, "ref.adapters", Duration.ofMinutes(4),
              s -> s.size() >= total || !run.alive());
        } catch (AssertionError e) {
          throw new AssertionError(e.getMessage() + "; the reference run said:\n" + run.output(), e);
        }
        run.terminate();
        run.waitFor(180);
      }
      assertEquals(total, expected.size(), "the reference run published " + expected.size() + " versions");
      assertTrue(expected.stream().filter(m -> m.getAdapterId().equals("gamma"))
          .allMatch(m -> m.getPayload() instanceof io.bonestream.schemas.ClaimCheck), "gamma goes by claim check");

      // the interrupted one: four processes, a quarter of the records produced before each
      Path config = yaml("rr", bootstrap);
      List<List<InstructionRecord>> quarters = List.of(records.subList(0, 36), records.subList(36, 72),
          records.subList(72, 108), records.subList(108, 144));
      StringBuilder logs = new StringBuilder();

      produce(bootstrap, quarters.get(0));
      try (CliProcess run = CliProcess.start(tmp.resolve("run1.log"), "run", "--config", config.toString())) {
        awaitVersions(bootstrap, 3, run);
        run.terminate();
        assertEquals(0, run.waitFor(180), run.output());
        logs.append("--- run 1\n").append(run.output());
        assertTrue(run.output().contains("no checkpoint or savepoint"), run.output());
        assertTrue(run.output().contains("stopped with savepoint"), run.output());
      }

      produce(bootstrap, quarters.get(1));
      try (CliProcess run = CliProcess.start(tmp.resolve("run2.log"), "run", "--config", config.toString())) {
        awaitVersions(bootstrap, 7, run);
        run.kill();
        run.waitFor(60);
        logs.append("--- run 2 (killed)\n").append(run.output());
        assertTrue(run.output().contains("restoring savepoint"), run.output());
        assertTrue(run.output().matches("(?s).*3 adapters: alpha v\\d+ \\(step \\d+.*"), run.output());
      }

      // after the kill: rescaled from the retained checkpoint (unaligned), some adapter changes subtask
      assertTrue(ADAPTERS.stream().anyMatch(a -> subtask(a, 2) != subtask(a, 3)), "no adapter moves from 2 to 3");
      produce(bootstrap, quarters.get(2));
      Path rescaled = yaml("rr", bootstrap, 3);
      try (CliProcess run = CliProcess.start(tmp.resolve("run3.log"), "run", "--config", rescaled.toString())) {
        awaitVersions(bootstrap, 11, run);
        run.terminate();
        assertEquals(0, run.waitFor(180), run.output());
        logs.append("--- run 3 (parallelism 3)\n").append(run.output());
        assertTrue(run.output().contains("restoring checkpoint"), run.output());
      }

      produce(bootstrap, quarters.get(3));
      try (CliProcess run = CliProcess.start(tmp.resolve("run4.log"), "run", "--config", config.toString())) {
        awaitVersions(bootstrap, total, run);
        run.terminate();
        assertEquals(0, run.waitFor(180), run.output());
        logs.append("--- run 4\n").append(run.output());
        assertTrue(run.output().contains("restoring savepoint"), run.output());
      }

      List<AdapterSnapshot> actual = StreamingHarness.allSnapshots(bootstrap, "rr.adapters");
      System.out.println(logs);
      VersionHistory.assertSame(expected, actual, logs.toString());
      List<AdapterSnapshot> beta = expected.stream().filter(m -> m.getAdapterId().equals("beta")).toList();
      assertTrue(beta.stream().allMatch(m -> m.getStats().getAnchorLoss() != null), "beta's anchor loss on every version");
      assertTrue(beta.get(beta.size() - 1).getStats().getReplayedExamples() > 0, "beta replays");
      // old restore points are pruned: of those older than the one the last run restored, two stay
      // (three when a deleted checkpoint shares its job folder with a kept one: RestorePointsTest)
      java.util.regex.Matcher restored = java.util.regex.Pattern.compile("restoring savepoint (\\S+) ")
          .matcher(logs.substring(logs.lastIndexOf("--- run 4")));
      assertTrue(restored.find(), logs.toString());
      List<io.bonestream.job.recovery.RestorePoint> points =
          io.bonestream.job.recovery.RestorePoints.list(tmp.resolve("rr-checkpoints").toUri().toString());
      var last = points.stream().filter(p -> p.name().equals(restored.group(1))).findFirst().orElseThrow();
      long older = points.stream().filter(p -> p.completedAt().isBefore(last.completedAt())).count();
      assertTrue(older >= 1 && older <= Recovery.OLDER_RESTORE_POINTS_KEPT + 1, points.toString());
    }
  }

  private static void produce(String bootstrap, List<InstructionRecord> records) throws Exception {
    StreamingHarness.produce(bootstrap, "rr.instructions", StreamingHarness.asRecords("rr.instructions", records));
  }

  private static void awaitVersions(String bootstrap, int n, CliProcess run) {
    Predicate<List<AdapterSnapshot>> enough = s -> s.size() >= n || !run.alive();
    List<AdapterSnapshot> seen;
    try {
      seen = StreamingHarness.readSnapshots(bootstrap, "rr.adapters", Duration.ofMinutes(4), enough);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; the run said:\n" + run.output(), e);
    }
    assertTrue(seen.size() >= n, "only " + seen.size() + " of " + n + " versions; the run said:\n" + run.output());
  }

  private static int subtask(String adapter, int parallelism) {
    return org.apache.flink.runtime.state.KeyGroupRangeAssignment.assignKeyToParallelOperator(adapter,
        JobEnvironment.MAX_PARALLELISM, parallelism);
  }

  private Path yaml(String prefix, String bootstrap) throws Exception {
    return yaml(prefix, bootstrap, 2);
  }

  /**
   * The job of both runs: bat r 4 (gamma: lora r 8, over the inline limit: claim checks; beta: with
   * the continual-learning guards, replay from its reservoir, the drift signal and the anchor set
   * scored on every version, so that they too must come back exactly after a stop, a kill and a rescale).
   */
  private Path yaml(String prefix, String bootstrap, int parallelism) throws Exception {
    Path file = tmp.resolve(prefix + "-p" + parallelism + ".yaml");
    Files.writeString(file, String.join("\n",
        "kafka:",
        "  bootstrap-servers: " + bootstrap,
        "  group-id: " + prefix,
        "  transactional-id-prefix: " + prefix,
        "topics:",
        "  instructions: " + prefix + ".instructions",
        "  adapters: " + prefix + ".adapters",
        "  dead-letters: " + prefix + ".dlq",
        "model: " + TestFiles.stories260K(),
        "max-seq-len: 64",
        "checkpoints:",
        "  dir: " + tmp.resolve(prefix + "-checkpoints").toUri(),
        "  interval: 2s",
        "blob-store: " + tmp.resolve(prefix + "-blobs").toUri(),
        "flink:",
        "  rest.port: \"" + EmbeddedKafka.freePort() + "\"",
        "  metrics.reporter.prom.port: \"" + EmbeddedKafka.freePort() + "\"",
        "  parallelism.default: \"" + parallelism + "\"",
        "adapter-defaults:",
        "  method: bat",
        "  r: 4",
        "  lr: 1.0e-2",
        "  micro-batch-size: 4",
        "adapters:",
        "  - match: gamma",
        "    method: lora",
        "    r: 8",
        "  - match: beta",
        "    replay: {ratio: 0.5, capacity: 16}",
        "    drift: {on-drift: none}",
        "    anchor: {file: " + TestFiles.models().getParent().resolve("examples/anchor-stories.jsonl") + ", gate: false}",
        "batching:",
        "  max-examples: 4",
        "snapshots:",
        "  every-steps: 2",
        "  inline-limit: 80KiB",
        ""));
    return file;
  }
}
