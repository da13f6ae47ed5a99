package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.cli.BonestreamCli;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.FileTrees;
import io.bonestream.job.cluster.FlinkCluster;
import io.bonestream.job.cluster.JarRun;
import io.bonestream.job.cluster.JvmProcess;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.JobStatus;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The ways onto a Flink session cluster of separate processes: Flink's own command line client
 * ({@code flink run}, {@code flink stop}) in its own JVM with the cluster's conf folder, and
 * {@code bonestream submit} through the REST API; each stops with a savepoint mid-run and
 * resumes from it, and the run still publishes every version once, each equal to the versions
 * of an uninterrupted run of the same input (the first test's).
 */
@Tag("cluster")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ClusterSubmitIT {
  static final Path DIR = Path.of("target/cluster-it/submit").toAbsolutePath();
  static final Path JAR = Path.of(System.getProperty("bonestream.flink.jar"));
  static final Duration TIMEOUT = Duration.ofMinutes(3);

  static EmbeddedKafka kafka;
  static FlinkCluster cluster;
  static ClusterInput input;
  static ClusterAssertions.RunOutput baseline;
  final List<ClusterRun> runs = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    FileTrees.delete(DIR);
    // the broker starts while the cluster's processes do
    CompletableFuture<EmbeddedKafka> broker = CompletableFuture.supplyAsync(
        () -> EmbeddedKafka.start(0, DIR.resolve("kafka"), true));
    try {
      cluster = FlinkCluster.builder().workDir(DIR.resolve("flink")).taskManagers(1).slotsPerTaskManager(2)
          .javaOption("-Dorg.bytedeco.javacpp.cachedir=" + System.getProperty("bonestream.javacpp.cachedir"))
          .start();
    } finally {
      kafka = broker.get(2, TimeUnit.MINUTES); // closed after all, whatever happened
    }
    kafka.createTopic("in", 2, false);
    input = ClusterInput.produce(kafka.bootstrapServers(), "in", 64, 13);
  }

  @AfterAll
  static void stop() {
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
    return track(new ClusterRun(cluster, kafka.bootstrapServers(), null, input, DIR, name));
  }

  private ClusterRun track(ClusterRun r) {
    runs.add(r);
    return r;
  }

  /**
   * ND4J remembers the class loader of the first job that touched it in a JVM; once that job is
   * gone, a lookup it had not needed yet (here: the first adapter created on the TaskManager) must
   * still work. First in this class: the TaskManager must not have trained anything before.
   */
  @Test
  @Order(1)
  void aJobAfterAnotherOnTheSameTaskManagerTrains() throws Exception {
    kafka.createTopic("nothing", 1, false);
    String jarId = cluster.rest().uploadJar(JAR);
    ClusterRun idle = track(new ClusterRun(cluster, kafka.bootstrapServers(), jarId, new ClusterInput("nothing"), DIR, "idle"));
    idle.submit(2, null);
    idle.awaitTrainersRunning(List.of(), Duration.ofSeconds(90)); // the model is loaded: ND4J is up
    idle.cancel();

    ClusterRun run = track(new ClusterRun(cluster, kafka.bootstrapServers(), jarId, input, DIR, "after-another"));
    run.submit(2, null);
    // uninterrupted: the baseline the stopped and resumed runs below must equal
    run.awaitCompletion(input, TIMEOUT);
    ClusterAssertions.assertComplete(input, run.output());
    baseline = run.output();
    cluster.rest().deleteJar(jarId);
  }

  private static ClusterAssertions.RunOutput baseline() {
    assertNotNull(baseline, "no baseline: the uninterrupted run (the first test) failed");
    return baseline;
  }

  @Test
  @Order(2)
  void flinkRunAndFlinkStopDriveTheApplicationJar() throws Exception {
    ClusterRun run = newRun("flink-cli");
    JvmProcess submit = cluster.runClient("flink-run", TIMEOUT, "run", "-d", "-p", "2", JAR.toString(),
        "--config", run.jobYaml.toString());
    run.attach(find(submit, "JobID ([0-9a-f]{32})"));
    run.awaitManifests(2, TIMEOUT);
    JvmProcess stop = cluster.runClient("flink-stop", TIMEOUT, "stop", "--savepointPath",
        DIR.resolve("savepoints").toUri().toString(), run.jobId());
    String savepoint = find(stop, "Savepoint completed\\. Path: (\\S+)");
    System.out.println("flink stop: at " + run.manifests().size() + " of " + input.totalVersions() + " versions");
    assertEquals(JobStatus.FINISHED, cluster.rest().jobStatus(run.jobId()));
    assertTrue(run.manifests().size() < input.totalVersions(), "stopped after the last version");

    JvmProcess resume = cluster.runClient("flink-run-again", TIMEOUT, "run", "-d", "-s", savepoint,
        JAR.toString(), "--config", run.jobYaml.toString());
    run.attach(find(resume, "JobID ([0-9a-f]{32})"));
    assertEquals(savepoint, cluster.rest().checkpoints(run.jobId()).restoredPath());
    run.awaitCompletion(input, TIMEOUT);
    ClusterAssertions.assertComplete(input, run.output());
    ClusterAssertions.assertSameAs(baseline(), run.output());
  }

  /** The first group of {@code regex} in the process's output. */
  private static String find(JvmProcess p, String regex) throws Exception {
    assertEquals(0, p.waitFor(Duration.ZERO), p.name() + " failed:\n" + p.tail(40));
    Matcher m = Pattern.compile(regex).matcher(Files.readString(p.output()));
    assertTrue(m.find(), p.name() + " printed no " + regex + ":\n" + p.tail(40));
    return m.group(1);
  }

  @Test
  @Order(3)
  void bonestreamSubmitRunsTheJarThroughTheRestApi() throws Exception {
    ClusterRun run = newRun("submit");
    Result first = submit("--jobmanager", cluster.restUrl(), "--config", run.jobYaml.toString(),
        "--jar", JAR.toString(), "--parallelism", "1");
    assertEquals(0, first.code, first.err);
    run.attach(jobId(first));
    assertEquals(1, cluster.rest().subtasks(run.jobId(), "train-adapters").size());
    run.awaitManifests(2, TIMEOUT);
    String savepoint = cluster.rest().stopWithSavepoint(run.jobId(), null, TIMEOUT);
    System.out.println("REST stop: at " + run.manifests().size() + " of " + input.totalVersions() + " versions");
    assertTrue(run.manifests().size() < input.totalVersions(), "stopped after the last version");

    Result resumed = submit("--jobmanager", cluster.restUrl(), "--config", run.jobYaml.toString(),
        "--jar", JAR.toString(), "--from-savepoint", savepoint, "--parallelism", "2");
    assertEquals(0, resumed.code, resumed.err);
    assertTrue(resumed.out.contains("from:   " + savepoint), resumed.out);
    run.attach(jobId(resumed));
    assertEquals(savepoint, cluster.rest().checkpoints(run.jobId()).restoredPath());
    run.awaitCompletion(input, TIMEOUT);
    ClusterAssertions.assertComplete(input, run.output());
    ClusterAssertions.assertSameAs(baseline(), run.output());
  }

  private static String jobId(Result r) {
    Matcher m = Pattern.compile("^job ([0-9a-f]{32}) RUNNING on ").matcher(r.out);
    assertTrue(m.find(), r.out);
    return m.group(1);
  }

  @Test
  @Order(4)
  void mistakesAreOneLineThatSaysWhat() throws Exception {
    Path yaml = ClusterJobFiles.write(DIR, kafka.bootstrapServers(), "in", "mistakes");
    Result noCluster = submit("--jobmanager", "http://localhost:" + closedPort(), "--config",
        yaml.toString(), "--jar", JAR.toString());
    assertEquals(1, noCluster.code);
    assertTrue(noCluster.err.startsWith("error: no Flink JobManager answers at http://localhost:"), noCluster.err);
    assertEquals(1, noCluster.err.lines().count(), noCluster.err);

    Result noJar = submit("--jobmanager", cluster.restUrl(), "--config", yaml.toString(), "--jar",
        DIR.resolve("missing.jar").toString());
    assertEquals("error: jar not found: " + DIR.resolve("missing.jar") + "\n", noJar.err);
    assertEquals(1, noJar.code);

    Result zero = submit("--jobmanager", cluster.restUrl(), "--config", yaml.toString(), "--parallelism", "0");
    assertEquals(2, zero.code, zero.err);

    Result badUrl = submit("--jobmanager", "localhost:8081", "--config", yaml.toString(), "--jar", JAR.toString());
    assertEquals(1, badUrl.code, badUrl.err);
    assertTrue(badUrl.err.startsWith("error: the JobManager's address must be http://host:port"), badUrl.err);

    // what the JobManager says when the program fails: the program's own message
    String jarId = cluster.rest().uploadJar(JAR);
    BonestreamException e = assertThrows(BonestreamException.class, () -> cluster.rest().runJar(jarId,
        JarRun.builder().programArgs("--config", DIR.resolve("nowhere.yaml").toString()).build()));
    assertTrue(e.getMessage().contains("config file not found: " + DIR.resolve("nowhere.yaml")), e.getMessage());
    cluster.rest().deleteJar(jarId);
  }

  record Result(int code, String out, String err) {}

  private static Result submit(String... args) {
    String[] all = new String[args.length + 1];
    all[0] = "submit";
    System.arraycopy(args, 0, all, 1, args.length);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = BonestreamCli.run(all, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Result(code, out.toString(), err.toString());
  }

  /** A port nothing listens on. */
  private static int closedPort() throws Exception {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
