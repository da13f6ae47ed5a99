package io.bonestream.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.BatchPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InstructionRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/** Shared pieces of the streaming integration tests: data, producing, reading, the job. */
final class StreamingHarness {
  private StreamingHarness() {}

  /** The colors task of examples/colors.jsonl, as instruction records for {@code adapter}. */
  static List<InstructionRecord> colors(String adapter, int n) throws Exception {
    Path file = TestFiles.models().getParent().resolve("examples/colors.jsonl");
    List<InstructionRecord> out = new ArrayList<>();
    List<String> lines = Files.readAllLines(file);
    for (int i = 0; i < n; i++) {
      JsonNode r = Json.MAPPER.readTree(lines.get(i % lines.size()));
      out.add(InstructionRecords.fromJson(r, adapter, adapter + "-" + i));
    }
    return out;
  }

  /** An opposites task: "What is the opposite of big?" → "small". */
  static List<InstructionRecord> opposites(String adapter, int n) {
    String[][] pairs = {{"big", "small"}, {"hot", "cold"}, {"happy", "sad"}, {"up", "down"},
        {"day", "night"}, {"fast", "slow"}, {"old", "new"}, {"good", "bad"}};
    List<InstructionRecord> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String[] p = pairs[i % pairs.length];
      out.add(InstructionRecord.newBuilder().setAdapterId(adapter).setExampleId(adapter + "-" + i)
          .setPrompt("What is the opposite of " + p[0] + "?").setResponse("The opposite of " + p[0]
              + " is " + p[1] + ".").build());
    }
    return out;
  }

  /** Sends records in order; returns each one's offset, by adapter: partition → offsets. */
  static Map<String, Map<Integer, List<Long>>> produce(String bootstrap, String topic,
      List<ProducerRecord<byte[], byte[]>> records) throws Exception {
    Map<String, Map<Integer, List<Long>>> offsets = new TreeMap<>();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new Properties())) {
      for (ProducerRecord<byte[], byte[]> r : records) {
        RecordMetadata m = p.send(r).get(1, java.util.concurrent.TimeUnit.MINUTES);
        String key = r.key() == null ? "" : new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
        offsets.computeIfAbsent(key, k -> new TreeMap<>())
            .computeIfAbsent(m.partition(), k -> new ArrayList<>()).add(m.offset());
      }
    }
    return offsets;
  }

  static List<ProducerRecord<byte[], byte[]>> asRecords(String topic, List<InstructionRecord> rs) {
    List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
    rs.forEach(r -> out.add(KafkaClients.instruction(topic, r)));
    return out;
  }

  /** Interleaves lists: a0, b0, a1, b1, ... */
  @SafeVarargs
  static <T> List<T> interleave(List<T>... lists) {
    List<T> out = new ArrayList<>();
    int max = 0;
    for (List<T> l : lists) {
      max = Math.max(max, l.size());
    }
    for (int i = 0; i < max; i++) {
      for (List<T> l : lists) {
        if (i < l.size()) {
          out.add(l.get(i));
        }
      }
    }
    return out;
  }

  /**
   * Reads the manifests of {@code topic} (read_committed) until {@code done} holds; fails, with
   * what it read, when it does not hold within {@code timeout}.
   */
  static List<AdapterSnapshot> readSnapshots(String bootstrap, String topic, Duration timeout,
      Predicate<List<AdapterSnapshot>> done) {
    List<AdapterSnapshot> read = new ArrayList<>();
    List<ConsumerRecord<byte[], byte[]>> records = KafkaClients.readUntil(bootstrap, topic, timeout, rs -> {
      for (int i = read.size(); i < rs.size(); i++) {
        read.add(KafkaClients.snapshot(rs.get(i).value()));
      }
      return done.test(read);
    });
    if (!done.test(read)) {
      throw new AssertionError("no wanted state of " + topic + " within " + timeout + ": " + records.size()
          + " manifests read " + ClusterAssertions.summary(read));
    }
    return List.copyOf(read);
  }

  /** The dead letters of {@code topic}, read until {@code done} holds for their count or {@code timeout} passes. */
  static List<io.bonestream.schemas.DeadLetter> readDeadLetters(String bootstrap, String topic, Duration timeout,
      java.util.function.IntPredicate done) {
    return KafkaClients.readUntil(bootstrap, topic, timeout, rs -> done.test(rs.size())).stream().map(r -> {
      try {
        return io.bonestream.schemas.DeadLetter.getDecoder().decode(r.value());
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).toList();
  }

  /**
   * Every committed record of {@code topic}, up to the end offsets it has when called (read
   * committed: the last stable offsets); fails when they are not reached within a minute.
   */
  static List<ConsumerRecord<byte[], byte[]>> readToEnd(String bootstrap, String topic) {
    try (var c = KafkaClients.committedReader(bootstrap, new Properties())) {
      List<org.apache.kafka.common.TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(p -> new org.apache.kafka.common.TopicPartition(topic, p.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<org.apache.kafka.common.TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(30));
      List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
      while (parts.stream().anyMatch(p -> c.position(p, Duration.ofSeconds(30)) < end.get(p))) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("cannot read " + topic + " to its end offsets " + end + " within a minute");
        }
        c.poll(Duration.ofMillis(200)).forEach(all::add);
      }
      return all;
    }
  }

  /**
   * Stops a job with a savepoint in {@code dir} (its Kafka transactions commit); tries again while
   * the job is still (re)starting, a minute at most.
   */
  static String stopWithSavepoint(org.apache.flink.core.execution.JobClient job, Path dir) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    while (true) {
      try {
        return job.stopWithSavepoint(false, dir.toUri().toString(),
            org.apache.flink.core.execution.SavepointFormatType.CANONICAL).get(1, java.util.concurrent.TimeUnit.MINUTES);
      } catch (java.util.concurrent.ExecutionException e) {
        if (System.nanoTime() > deadline || !String.valueOf(e.getMessage()).contains("not being executed")) {
          throw e;
        }
        Thread.sleep(200); // tasks not all running yet (a restart under way)
      }
    }
  }

  /**
   * Fails unless {@code job} is running and never failed: Flink's REST API (the web UI on
   * {@code uiPort}) answers with an empty exception history.
   */
  static void assertNeverFailed(org.apache.flink.core.execution.JobClient job, int uiPort) throws Exception {
    org.junit.jupiter.api.Assertions.assertEquals(org.apache.flink.api.common.JobStatus.RUNNING,
        job.getJobStatus().get(1, java.util.concurrent.TimeUnit.MINUTES));
    java.net.http.HttpResponse<String> exceptions = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://localhost:" + uiPort + "/jobs/"
            + job.getJobID() + "/exceptions")).timeout(Duration.ofSeconds(30)).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    org.junit.jupiter.api.Assertions.assertEquals(200, exceptions.statusCode(), exceptions.body());
    JsonNode entries = Json.MAPPER.readTree(exceptions.body()).path("exceptionHistory").path("entries");
    org.junit.jupiter.api.Assertions.assertTrue(entries.isArray(), "no exception history in " + exceptions.body());
    org.junit.jupiter.api.Assertions.assertEquals(0, entries.size(), "the job failed: " + exceptions.body());
  }

  /** The manifests of {@code topic} up to its end ({@link #readToEnd}). */
  static List<AdapterSnapshot> allSnapshots(String bootstrap, String topic) {
    return readToEnd(bootstrap, topic).stream().map(r -> KafkaClients.snapshot(r.value())).toList();
  }

  static long count(List<AdapterSnapshot> s, String adapter) {
    return s.stream().filter(x -> x.getAdapterId().equals(adapter)).count();
  }

  /** A job on stories260K: bat r 4, AdamW lr 1e-2, steps of 4 examples, a version every 2 steps. */
  static StreamingJob.Builder job(String bootstrap, String prefix, Path blobs) {
    AdapterProfile profile = new AdapterProfile(
        AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    return StreamingJob.builder()
        .bootstrapServers(bootstrap)
        .instructionsTopic(prefix + ".instructions")
        .adaptersTopic(prefix + ".adapters")
        .deadLetterTopic(prefix + ".dlq")
        .gatedTopic(prefix + ".gated")
        .controlTopic(prefix + ".control")
        .groupId(prefix)
        .transactionalIdPrefix(prefix)
        .modelDir(TestFiles.stories260K().toString())
        .profiles(AdapterProfiles.of(profile))
        .batchPolicy(BatchPolicy.ofExamples(4))
        .maxSeqLen(64)
        .snapshotPolicy(new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, blobs.toUri().toString()));
  }
}
