package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.schemas.OffsetRange;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Garbage at the running job: 200 records from a fixed seed, a third valid, the rest random bytes,
 * mutated and truncated records, adversarial adapter ids and keys. The job never fails or stalls;
 * every offset is either trained (in exactly one version's lineage) or in the dead-letter topic,
 * exactly once.
 */
class FuzzedStreamIT {
  @TempDir Path tmp;

  @Test
  void everyRecordIsTrainedOrDeadLetteredOnceAndTheJobNeverFails() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("fz.instructions", "fz.adapters", "fz.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      Random random = new Random(42);
      List<InstructionRecord> good = StreamingHarness.colors("ok", 64);
      int total = 200;
      try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new java.util.Properties())) {
        for (int i = 0; i < total; i++) {
          ProducerRecord<byte[], byte[]> valid = KafkaClients.instruction("fz.instructions", good.get(i % good.size()));
          byte[] value = valid.value().clone();
          byte[] key = valid.key();
          switch (random.nextInt(6)) {
            case 0, 1 -> { } // valid
            case 2 -> {
              value = new byte[random.nextInt(300)];
              random.nextBytes(value);
            }
            case 3 -> value[random.nextInt(value.length)] = (byte) random.nextInt(256);
            case 4 -> value = java.util.Arrays.copyOf(value, random.nextInt(value.length));
            default -> {
              String id = List.of("..", "a/b", "x".repeat(200), "\u0000", "\u202Eevil", "ok ok").get(random.nextInt(6));
              value = bytes(InstructionRecord.getEncoder().encode(InstructionRecord.newBuilder(good.get(0))
                  .setAdapterId(id).build()));
              key = random.nextBoolean() ? null : id.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }
          }
          p.send(new ProducerRecord<>("fz.instructions", key, value)).get(1, java.util.concurrent.TimeUnit.MINUTES);
        }
      }
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "fz",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 1}", // every trained record in a version of its own
          "snapshots: {every-steps: 1}");
      int ui = EmbeddedKafka.freePort();
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(ui, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "fuzzed-stream");
      List<AdapterSnapshot> versions = List.of();
      List<DeadLetter> dead = new ArrayList<>();
      try {
        // every record is in a version or a dead letter once both topics hold 200 between them
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        while (true) {
          versions = StreamingHarness.allSnapshots(bootstrap, "fz.adapters");
          dead.clear();
          for (ConsumerRecord<byte[], byte[]> r : StreamingHarness.readToEnd(bootstrap, "fz.dlq")) {
            dead.add(DeadLetter.getDecoder().decode(r.value()));
          }
          if (versions.size() + dead.size() >= total) {
            break;
          }
          if (System.nanoTime() > deadline) {
            throw new AssertionError("after 4 minutes only " + versions.size() + " versions and " + dead.size()
                + " dead letters of " + total + " records");
          }
          Thread.sleep(500);
        }
        // the job never failed
        StreamingHarness.assertNeverFailed(job, ui);
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
      Set<Long> offsets = new TreeSet<>();
      int accounted = 0;
      for (AdapterSnapshot v : versions) {
        for (OffsetRange r : v.getLineage()) {
          for (long o = r.getFirstOffset(); o <= r.getLastOffset(); o++) {
            assertTrue(offsets.add(o), "offset " + o + " trained twice");
          }
          accounted += r.getRecords();
        }
      }
      for (DeadLetter d : dead) {
        assertTrue(offsets.add(d.getOffset()), "offset " + d.getOffset() + " trained and dead-lettered, or twice");
        accounted++;
      }
      assertEquals(total, accounted, versions.size() + " trained, " + dead.size() + " dead letters");
      assertEquals(total, offsets.size());
      assertTrue(versions.size() > 25 && dead.size() > 50, versions.size() + " trained, " + dead.size() + " dead");
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
