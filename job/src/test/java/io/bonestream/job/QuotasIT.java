package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ChatMessage;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.schemas.OffsetRange;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Quotas and caps on a running job: a cap on distinct adapters, one adapter flooding at 50 times
 * the others' rate held to its share of the training subtask while the others all train, and
 * records over the size caps turned away before decoding work. Every record is trained or
 * dead-lettered exactly once, with its reason.
 */
class QuotasIT {
  @TempDir Path tmp;

  @Test
  void capsSharesAndSizeLimitsTurnRecordsAwayWithTheirReason() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("q.instructions", "q.adapters", "q.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      // one partition, so that arrival order is production order: the flood around the others
      List<InstructionRecord> records = new ArrayList<>();
      List<InstructionRecord> flood = StreamingHarness.colors("flood", 400);
      List<List<InstructionRecord>> quiet = List.of(StreamingHarness.opposites("x", 8),
          StreamingHarness.opposites("y", 8), StreamingHarness.colors("z", 8));
      for (int i = 0; i < 400; i++) {
        records.add(flood.get(i));
        if (i % 50 == 49) {
          for (List<InstructionRecord> q : quiet) {
            records.add(q.get(i / 50));
          }
        }
      }
      // a fifth adapter over the cap of four, and records over the size caps
      records.addAll(StreamingHarness.colors("late", 8));
      records.add(InstructionRecord.newBuilder(quiet.get(0).get(0)).setExampleId("big")
          .setPrompt("x".repeat(5000)).build());
      List<ChatMessage> many = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        many.add(ChatMessage.newBuilder().setRole(i % 2 == 0 ? "user" : "assistant").setContent("hi").build());
      }
      records.add(InstructionRecord.newBuilder().setAdapterId("x").setExampleId("chatty").setMessages(many).build());
      records.add(InstructionRecord.newBuilder(quiet.get(1).get(0)).setExampleId("huge")
          .setPrompt("y".repeat(70_000)).build());
      StreamingHarness.produce(bootstrap, "q.instructions", StreamingHarness.asRecords("q.instructions", records));
      int total = records.size();

      JobConfig c = TestJobYaml.write(tmp, bootstrap, "q",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}",
          "quotas: {max-adapters: 4, max-share: 0.5, share-window-tokens: 4096, max-text-chars: 4000,"
              + " max-messages: 16, max-record-bytes: 64KiB}");
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "quotas");
      List<DeadLetter> dead = new ArrayList<>();
      List<AdapterSnapshot> versions;
      try {
        // every record accounted for: trained (in a version's lineage, or still buffered) or dead-lettered
        versions = StreamingHarness.readSnapshots(bootstrap, "q.adapters", Duration.ofSeconds(240), s -> {
          List<String> quietDone = List.of("x", "y", "z");
          return quietDone.stream().allMatch(a -> StreamingHarness.count(s, a) >= 1);
        });
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (System.nanoTime() < deadline) {
          dead.clear();
          for (ConsumerRecord<byte[], byte[]> r : KafkaClients.readUntil(bootstrap, "q.dlq", Duration.ofSeconds(2),
              x -> false)) {
            dead.add(DeadLetter.getDecoder().decode(r.value()));
          }
          versions = StreamingHarness.readSnapshots(bootstrap, "q.adapters", Duration.ofSeconds(2), s -> false);
          if (trained(versions) + dead.size() >= total - 3 * 4) { // at most 3 buffered per adapter
            break;
          }
        }
      } finally {
        job.cancel().get();
      }
      Map<String, Long> reasons = new TreeMap<>();
      dead.forEach(d -> reasons.merge(d.getErrorCode() + " " + adapterOf(d), 1L, Long::sum));
      // the fifth adapter: all 8 records, and nothing trained
      assertEquals(8L, reasons.get("OVER_ADAPTER_LIMIT late"), reasons.toString());
      assertEquals(0, StreamingHarness.count(versions, "late"));
      assertEquals(1L, reasons.get("TEXT_TOO_LONG x"), reasons.toString());
      assertEquals(1L, reasons.get("TOO_MANY_MESSAGES x"), reasons.toString());
      assertEquals(1L, reasons.get("RECORD_TOO_LARGE y"), reasons.toString());
      // the flood is held to its share; the quiet adapters lose nothing
      assertTrue(reasons.getOrDefault("OVER_SHARE flood", 0L) > 20, reasons.toString());
      for (String q : List.of("x", "y", "z")) {
        assertEquals(null, reasons.get("OVER_SHARE " + q), reasons.toString());
        assertEquals(8, versions.stream().filter(v -> v.getAdapterId().equals(q))
            .flatMap(v -> v.getLineage().stream()).mapToLong(OffsetRange::getRecords).sum(), q + " trained all 8");
      }
      // each record once: trained or dead-lettered, never both (offsets)
      List<Long> seen = new ArrayList<>();
      dead.forEach(d -> seen.add(d.getOffset()));
      for (AdapterSnapshot v : versions) {
        for (OffsetRange r : v.getLineage()) {
          assertTrue(r.getRecords() > 0);
        }
      }
      assertEquals(seen.size(), seen.stream().distinct().count(), "a record dead-lettered twice");
    }
  }

  private static long trained(List<AdapterSnapshot> versions) {
    return versions.stream().flatMap(v -> v.getLineage().stream()).mapToLong(OffsetRange::getRecords).sum();
  }

  private static String adapterOf(DeadLetter d) {
    if (d.getOriginalKey() == null) {
      return "?";
    }
    java.nio.ByteBuffer b = d.getOriginalKey().duplicate();
    byte[] key = new byte[b.remaining()];
    b.get(key);
    return new String(key, java.nio.charset.StandardCharsets.UTF_8);
  }
}
