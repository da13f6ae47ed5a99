package io.bonestream.job;

import io.bonestream.job.cluster.FlinkCluster;
import io.bonestream.job.cluster.FlinkRestClient;
import io.bonestream.job.cluster.JarRun;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.DeadLetter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.flink.api.common.JobStatus;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * One run of the streaming job on the cluster, under its own name: its job.yaml (own topics,
 * consumer group, transactional ids, checkpoints, blobs), the job submitted through the REST API
 * (possibly several times: stop with a savepoint, resume), and two read_committed consumers that
 * follow its adapters and dead-letter topics from the beginning for the whole run, across broker
 * restarts, recording everything they see.
 */
final class ClusterRun implements AutoCloseable {
  final String name;
  final Path jobYaml;
  final Path blobs;
  private final FlinkCluster cluster;
  private final String jarId;
  private final List<AdapterSnapshot> manifests = new CopyOnWriteArrayList<>();
  private final List<DeadLetter> deadLetters = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final String bootstrap;
  private final List<Thread> followers = new ArrayList<>();
  private String jobId;

  ClusterRun(FlinkCluster cluster, String bootstrap, String jarId, ClusterInput input, Path dir, String name) {
    this.name = name;
    this.cluster = cluster;
    this.jarId = jarId;
    this.bootstrap = bootstrap;
    EmbeddedKafka.createTopic(bootstrap, name + ".adapters", 1, true);
    EmbeddedKafka.createTopic(bootstrap, name + ".dlq", 1, false);
    this.jobYaml = ClusterJobFiles.write(dir, bootstrap, input.topic, name);
    this.blobs = dir.resolve(name).resolve("blobs");
    follow(bootstrap, name + ".adapters", v -> manifests.add(KafkaClients.snapshot(v)));
    follow(bootstrap, name + ".dlq", v -> {
      try {
        deadLetters.add(DeadLetter.getDecoder().decode(v));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  private void follow(String bootstrap, String topic, java.util.function.Consumer<byte[]> onValue) {
    Thread t = new Thread(() -> {
      try (KafkaConsumer<byte[], byte[]> c = KafkaClients.committedReader(bootstrap, new Properties())) {
        KafkaClients.follow(c, topic, r -> onValue.accept(r.value()), stop::get);
      }
    }, "follow-" + topic);
    t.setDaemon(true);
    t.start();
    followers.add(t);
  }

  /** Submits the job (REST: run the uploaded jar {@code jarId}) and waits until it runs. */
  String submit(int parallelism, String savepoint) {
    jobId = cluster.rest().runJar(jarId, JarRun.builder().programArgs("--config", jobYaml.toString())
        .parallelism(parallelism).savepointPath(savepoint).build());
    cluster.rest().awaitStatus(jobId, Set.of(JobStatus.RUNNING), Duration.ofSeconds(90));
    return jobId;
  }

  /** Follows a job submitted another way (flink run, bonestream submit); waits until it runs. */
  void attach(String submittedJobId) {
    jobId = submittedJobId;
    cluster.rest().awaitStatus(jobId, Set.of(JobStatus.RUNNING), Duration.ofSeconds(90));
  }

  String jobId() {
    return jobId;
  }

  /**
   * Waits until every training subtask runs on one of {@code taskManagers} (all when empty);
   * returns their TaskManagers, by subtask index.
   */
  List<String> awaitTrainersRunning(Collection<String> taskManagers, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      List<FlinkRestClient.Subtask> subtasks = cluster.rest().jobStatus(jobId) == JobStatus.RUNNING
          ? cluster.rest().subtasks(jobId, "train-adapters") : List.of();
      if (!subtasks.isEmpty() && subtasks.stream().allMatch(s -> s.status().equals("RUNNING")
          && (taskManagers.isEmpty() || taskManagers.contains(s.taskManagerId())))) {
        return subtasks.stream().map(FlinkRestClient.Subtask::taskManagerId).toList();
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(name + ": training subtasks not running on " + taskManagers + ": " + subtasks);
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
  }

  /** Every manifest the read_committed consumer has seen so far, in order. */
  List<AdapterSnapshot> manifests() {
    return List.copyOf(manifests);
  }

  List<DeadLetter> deadLetters() {
    return List.copyOf(deadLetters);
  }

  ClusterAssertions.RunOutput output() {
    return new ClusterAssertions.RunOutput(name, manifests(), deadLetters(), blobs);
  }

  /** Waits until the consumer has seen {@code n} manifests. */
  void awaitManifests(long n, Duration timeout) {
    await(() -> manifests.size() >= n, timeout, () -> "saw " + manifests.size() + " of " + n + " versions");
  }

  /**
   * Waits until every version and dead letter of the input is committed, stops the job with a
   * savepoint (its last transactions commit) and reads both topics again to their end offsets:
   * a duplicate would show there.
   */
  void awaitCompletion(ClusterInput input, Duration timeout) throws InterruptedException {
    await(() -> manifests.size() >= input.totalVersions() && deadLetters.size() >= input.badCount(), timeout,
        () -> "saw " + manifests.size() + " of " + input.totalVersions() + " versions and "
            + deadLetters.size() + " of " + input.badCount() + " dead letters");
    cluster.rest().stopWithSavepoint(jobId, null, Duration.ofSeconds(120));
    stopFollowing();
    List<AdapterSnapshot> all = StreamingHarness.allSnapshots(bootstrap, name + ".adapters");
    List<DeadLetter> letters = new ArrayList<>();
    for (var r : StreamingHarness.readToEnd(bootstrap, name + ".dlq")) {
      try {
        letters.add(DeadLetter.getDecoder().decode(r.value()));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (!all.equals(manifests) || !letters.equals(deadLetters)) {
      throw new AssertionError(name + ": the topics read to their end (" + all.size() + " versions, "
          + letters.size() + " dead letters) differ from what the consumers followed (" + manifests.size()
          + ", " + deadLetters.size() + ")");
    }
  }

  private void stopFollowing() throws InterruptedException {
    stop.set(true);
    for (Thread t : followers) {
      t.join(30_000);
      if (t.isAlive()) {
        throw new AssertionError(name + ": " + t.getName() + " did not stop");
      }
    }
  }

  void cancel() {
    if (jobId != null && !cluster.rest().jobStatus(jobId).isGloballyTerminalState()) {
      cluster.rest().cancel(jobId);
      cluster.rest().awaitStatus(jobId, Set.of(JobStatus.CANCELED), Duration.ofSeconds(60));
    }
  }

  private void await(BooleanSupplier done, Duration timeout, java.util.function.Supplier<String> state) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(name + ": " + state.get() + " after " + timeout.toSeconds() + " s; job "
            + (jobId == null ? "not submitted" : cluster.rest().jobStatus(jobId)));
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    try {
      cancel();
    } finally {
      stopFollowing();
    }
  }
}
