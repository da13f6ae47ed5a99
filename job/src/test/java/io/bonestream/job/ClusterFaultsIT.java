package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.util.FileTrees;
import io.bonestream.job.cluster.FlinkCluster;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Faults on a Flink cluster of separate processes (a JobManager, two TaskManagers, each a JVM on
 * the lib folder of job/flink-lib), the job submitted as the application jar through the REST
 * API, reading a fixed input pre-loaded into a Kafka broker in a JVM of its own (so that it can
 * crash). Each faulted run must
 * publish exactly what an uninterrupted run of the same input published ({@link ClusterAssertions}).
 * {@code -Dbonestream.faults=long} (the Maven profile long-faults) runs more data and more faults.
 */
@Tag("cluster")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterFaultsIT {
  static final boolean LONG = "long".equals(System.getProperty("bonestream.faults"));
  static final Path DIR = Path.of("target/cluster-it/faults").toAbsolutePath();
  static final Duration RUN_TIMEOUT = Duration.ofMinutes(LONG ? 10 : 4);

  static BrokerProcess kafka;
  static int kafkaPort;
  static FlinkCluster cluster;
  static String jarId;
  static ClusterInput input;
  static ClusterRun baseline;
  final List<ClusterRun> runs = new ArrayList<>();

  @BeforeAll
  static void startClusterAndRunBaseline() throws Exception {
    FileTrees.delete(DIR);
    kafkaPort = EmbeddedKafka.freePort();
    // the broker and the cluster start side by side, and the jar uploads while the input is written
    CompletableFuture<BrokerProcess> broker = CompletableFuture.supplyAsync(
        () -> BrokerProcess.start(kafkaPort, DIR.resolve("kafka"), DIR.resolve("kafka.log")));
    try {
      cluster = FlinkCluster.builder().workDir(DIR.resolve("flink")).taskManagers(2).slotsPerTaskManager(2)
          .javaOption("-Dorg.bytedeco.javacpp.cachedir=" + System.getProperty("bonestream.javacpp.cachedir"))
          .start();
    } finally {
      kafka = broker.get(2, TimeUnit.MINUTES); // closed after all, whatever happened
    }
    CompletableFuture<String> upload = CompletableFuture.supplyAsync(
        () -> cluster.rest().uploadJar(Path.of(System.getProperty("bonestream.flink.jar"))));
    kafka.createTopic("in", 2, false);
    input = ClusterInput.produce(kafka.bootstrapServers(), "in", LONG ? 160 : 64, 13);
    jarId = upload.get(2, TimeUnit.MINUTES);
    baseline = new ClusterRun(cluster, kafka.bootstrapServers(), jarId, input, DIR, "baseline");
    baseline.submit(2, null);
    baseline.awaitCompletion(input, RUN_TIMEOUT);
    baseline.close();
    ClusterAssertions.assertComplete(input, baseline.output());
  }

  @AfterAll
  static void stopEverything() throws Exception {
    try {
      if (cluster != null) {
        cluster.close();
      }
    } finally {
      if (kafka != null) {
        kafka.close();
      }
    }
  }

  @AfterEach
  void cancelRuns() throws Exception {
    for (ClusterRun r : runs) {
      r.close();
    }
  }

  private ClusterRun newRun(String name) {
    ClusterRun r = new ClusterRun(cluster, kafka.bootstrapServers(), jarId, input, DIR, name);
    runs.add(r);
    return r;
  }

  @Test
  @org.junit.jupiter.api.Order(1)
  void killedTaskManagersChangeNothing() throws Exception {
    ClusterRun run = newRun("kills");
    run.submit(2, null);
    long total = input.totalVersions();
    // after the k-th committed version, kill -9 the TaskManager running the first training
    // subtask; every second time a new TaskManager replaces it at once, otherwise the survivor
    // takes the whole job and a replacement comes only after the job runs again
    long[] killAt = LONG ? new long[] {2, 9, 17, 26, 38, 50, 63} : new long[] {5, 17};
    for (int i = 0; i < killAt.length; i++) {
      run.awaitManifests(killAt[i], RUN_TIMEOUT);
      String victim = run.awaitTrainersRunning(List.of(), Duration.ofSeconds(90)).get(0);
      cluster.killTaskManager(victim);
      System.out.println("killed " + victim + " at " + run.manifests().size() + " of " + total + " versions");
      assertTrue(run.manifests().size() < total, "the kill came after the last version: nothing to recover");
      if (i % 2 == 0) {
        cluster.startTaskManager();
      } else {
        run.awaitTrainersRunning(cluster.taskManagerIds(), Duration.ofSeconds(90));
        cluster.startTaskManager();
      }
    }
    run.awaitCompletion(input, RUN_TIMEOUT);
    assertTrue(cluster.rest().checkpoints(run.jobId()).restoredPath() != null, "the job never restored a checkpoint");
    ClusterAssertions.assertComplete(input, run.output());
    ClusterAssertions.assertSameAs(baseline.output(), run.output());
    cluster.awaitTaskManagers(2, Duration.ofSeconds(60));
  }

  @Test
  @org.junit.jupiter.api.Order(2)
  void stopWithSavepointAndResumeWithAnotherParallelism() throws Exception {
    ClusterRun run = newRun("rescale");
    int[] parallelism = LONG ? new int[] {2, 3, 1, 4} : new int[] {2, 3};
    long[] stopAt = LONG ? new long[] {6, 18, 30} : new long[] {10};
    run.submit(parallelism[0], null);
    for (int i = 0; i < stopAt.length; i++) {
      run.awaitManifests(stopAt[i], RUN_TIMEOUT);
      String savepoint = cluster.rest().stopWithSavepoint(run.jobId(), null, Duration.ofSeconds(120));
      System.out.println("stopped at " + run.manifests().size() + " of " + input.totalVersions() + " versions");
      assertTrue(run.manifests().size() < input.totalVersions(), "stopped after the last version");
      assertMoves(parallelism[i], parallelism[i + 1]);
      run.submit(parallelism[i + 1], savepoint);
      assertEquals(savepoint, cluster.rest().checkpoints(run.jobId()).restoredPath());
      List<String> trainers = run.awaitTrainersRunning(List.of(), Duration.ofSeconds(90));
      assertEquals(parallelism[i + 1], trainers.size());
      Set<String> hosts = new HashSet<>(trainers);
      if (parallelism[i + 1] > 2) {
        assertEquals(2, hosts.size(), "training subtasks on both TaskManagers: " + hosts);
      }
    }
    run.awaitCompletion(input, RUN_TIMEOUT);
    ClusterAssertions.assertComplete(input, run.output());
    ClusterAssertions.assertSameAs(baseline.output(), run.output());
  }

  /** Some adapter trains in another subtask after the rescale (else the test would prove less). */
  private static void assertMoves(int from, int to) {
    boolean moved = input.adapters().stream().anyMatch(a -> subtask(a, from) != subtask(a, to));
    assertTrue(moved, "no adapter changes subtask from parallelism " + from + " to " + to);
  }

  private static int subtask(String adapter, int parallelism) {
    return KeyGroupRangeAssignment.assignKeyToParallelOperator(adapter, JobEnvironment.MAX_PARALLELISM, parallelism);
  }

  @Test
  @org.junit.jupiter.api.Order(3)
  void aBrokerCrashChangesNothing() throws Exception {
    ClusterRun run = newRun("broker");
    run.submit(2, null);
    long[] crashAt = LONG ? new long[] {4, 20, 40} : new long[] {8};
    for (long at : crashAt) {
      run.awaitManifests(at, RUN_TIMEOUT);
      kafka.kill(); // SIGKILL: open transactions, unflushed logs, clients cut off mid-request
      System.out.println("broker killed at " + run.manifests().size() + " of " + input.totalVersions() + " versions");
      assertNotEquals(input.totalVersions(), run.manifests().size(), "killed after the last version");
      Thread.sleep(5000); // the outage's length (not a wait for anything): the job's clients time out meanwhile
      kafka = BrokerProcess.start(kafkaPort, DIR.resolve("kafka"), DIR.resolve("kafka.log"));
    }
    run.awaitCompletion(input, RUN_TIMEOUT);
    ClusterAssertions.assertComplete(input, run.output());
    ClusterAssertions.assertSameAs(baseline.output(), run.output());
  }
}
