package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
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
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Quotas and caps on a running job: a cap on distinct adapters, one adapter flooding at 50 times
 * the others' rate held to its share of the training subtask while the others all train (the
 * share measured from what was trained, against the cap), and records over the size caps turned
 * away before decoding work. Every record is trained or dead-lettered exactly once, with its reason.
 */
class QuotasIT {
  private static final double MAX_SHARE = 0.5;
  private static final int WINDOW = 4096;

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

      // a step per record (the subtask counts shares by the tokens of each step: so each record's
      // admission is measured as it happens); a wall-clock snapshot puts the last steps in a version
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "q",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 1}",
          "snapshots: {every-steps: 4, every-wall-clock: 1s}",
          "quotas: {max-adapters: 4, max-share: " + MAX_SHARE + ", share-window-tokens: " + WINDOW + ","
              + " max-text-chars: 4000, max-messages: 16, max-record-bytes: 64KiB}");
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "quotas");
      List<DeadLetter> dead = new ArrayList<>();
      List<AdapterSnapshot> versions;
      try {
        // every record accounted for: trained into a version, or dead-lettered
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        while (true) {
          dead.clear();
          for (ConsumerRecord<byte[], byte[]> r : StreamingHarness.readToEnd(bootstrap, "q.dlq")) {
            dead.add(DeadLetter.getDecoder().decode(r.value()));
          }
          versions = StreamingHarness.allSnapshots(bootstrap, "q.adapters");
          if (trained(versions) + dead.size() >= total) {
            break;
          }
          if (System.nanoTime() > deadline) {
            throw new AssertionError("after 4 minutes " + trained(versions) + " trained and " + dead.size()
                + " dead-lettered of " + total + " records");
          }
          Thread.sleep(500);
        }
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
      Map<String, Long> reasons = new TreeMap<>();
      dead.forEach(d -> reasons.merge(d.getErrorCode() + " " + adapterOf(d), 1L, Long::sum));
      // the fifth adapter: all 8 records, and nothing trained
      assertEquals(8L, reasons.get("OVER_ADAPTER_LIMIT late"), reasons.toString());
      assertEquals(0, StreamingHarness.count(versions, "late"));
      assertEquals(1L, reasons.get("TEXT_TOO_LONG x"), reasons.toString());
      assertEquals(1L, reasons.get("TOO_MANY_MESSAGES x"), reasons.toString());
      assertEquals(1L, reasons.get("RECORD_TOO_LARGE y"), reasons.toString());
      for (String q : List.of("x", "y", "z")) {
        assertEquals(null, reasons.get("OVER_SHARE " + q), reasons.toString());
      }

      // each record exactly once: trained into one version, or dead-lettered once
      Map<Long, String> fate = accountForEveryOffset(records, versions, dead);
      for (String q : List.of("x", "y", "z")) {
        long trainedRecords = fate.entrySet().stream().filter(e -> e.getValue().equals("trained")
            && records.get(e.getKey().intValue()).getAdapterId().equals(q)).count();
        assertEquals(8, trainedRecords, q + " trained all 8");
      }
      assertShareHeld(records, fate);
    }
  }

  /**
   * Maps every offset of the input (one partition: offset = position) to "trained" or its dead
   * letter's reason; fails when an offset is in none, trained twice (two versions' ranges), or both
   * trained and dead-lettered.
   */
  private static Map<Long, String> accountForEveryOffset(List<InstructionRecord> records,
      List<AdapterSnapshot> versions, List<DeadLetter> dead) {
    Map<Long, String> fate = new TreeMap<>();
    for (DeadLetter d : dead) {
      assertEquals(null, fate.put(d.getOffset(), d.getErrorCode()), "offset " + d.getOffset() + " dead-lettered twice");
    }
    Map<String, Set<Long>> covered = new TreeMap<>();
    for (AdapterSnapshot v : versions) {
      for (OffsetRange r : v.getLineage()) {
        long inRange = 0;
        for (long o = r.getFirstOffset(); o <= r.getLastOffset(); o++) {
          if (!records.get((int) o).getAdapterId().equals(v.getAdapterId()) || fate.containsKey(o)) {
            continue; // another adapter's record, or one turned away between this adapter's records
          }
          assertTrue(covered.computeIfAbsent(v.getAdapterId(), k -> new TreeSet<>()).add(o),
              "offset " + o + " trained into two versions of " + v.getAdapterId());
          inRange++;
        }
        assertEquals(r.getRecords(), inRange, v.getAdapterId() + "@" + v.getVersion() + " " + r);
      }
    }
    covered.values().forEach(offsets -> offsets.forEach(o -> fate.put(o, "trained")));
    for (long o = 0; o < records.size(); o++) {
      assertTrue(fate.containsKey(o), "offset " + o + " (" + records.get((int) o).getAdapterId()
          + ") neither trained nor dead-lettered");
    }
    return fate;
  }

  /**
   * The flood's measured share: walking the input in arrival order, before each flood record that
   * trained, the window of the last {@link #WINDOW} tokens that reached the trainer (trained or
   * turned away for its share) held no more than {@link #MAX_SHARE} of flood tokens trained, give or
   * take a record at the window's edge; and over the contested stretch the flood still got close to
   * its share.
   */
  private static void assertShareHeld(List<InstructionRecord> records, Map<Long, String> fate) throws Exception {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    int[] tokens = new int[records.size()];
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
      ExampleEncoder encoder = new ExampleEncoder(tok, 64, base.config().vocabSize());
      for (int i = 0; i < records.size(); i++) {
        InstructionRecord r = records.get(i);
        tokens[i] = r.getPrompt() == null || r.getResponse() == null ? 0
            : encoder.promptResponse(r.getSystem(), r.getPrompt(), r.getResponse()).inputIds().length;
      }
    }
    int floodRecordTokens = 0;
    for (int i = 0; i < records.size(); i++) {
      if (records.get(i).getAdapterId().equals("flood")) {
        floodRecordTokens = Math.max(floodRecordTokens, tokens[i]);
      }
    }
    double slack = 2.0 * floodRecordTokens / WINDOW; // the window's edge: a record either way
    double worst = 0;
    int firstContested = -1;
    int lastContested = -1;
    int checked = 0;
    for (int k = 0; k < records.size(); k++) {
      if (!reachesTrainer(fate.get((long) k)) || !records.get(k).getAdapterId().equals("flood")) {
        continue;
      }
      long window = 0;
      long flood = 0;
      Set<String> trainedHere = new TreeSet<>();
      for (int j = k - 1; j >= 0 && window < WINDOW; j--) {
        if (!reachesTrainer(fate.get((long) j))) {
          continue;
        }
        window += tokens[j];
        if (fate.get((long) j).equals("trained")) {
          trainedHere.add(records.get(j).getAdapterId());
          if (records.get(j).getAdapterId().equals("flood")) {
            flood += tokens[j];
          }
        }
      }
      if (trainedHere.size() < 2 || window * 2 < WINDOW) {
        continue; // alone, or a window not yet half full: no share to hold
      }
      firstContested = firstContested < 0 ? k : firstContested;
      lastContested = k;
      if (fate.get((long) k).equals("trained")) {
        double share = (double) flood / window;
        worst = Math.max(worst, share);
        checked++;
        assertTrue(share <= MAX_SHARE + slack, "flood record at offset " + k + " trained with "
            + String.format("%.3f", share) + " of the window already the flood's (cap " + MAX_SHARE + ")");
      }
    }
    long contestedFlood = 0;
    long contestedAll = 0;
    for (int k = firstContested; k >= 0 && k <= lastContested; k++) {
      if (reachesTrainer(fate.get((long) k))) {
        contestedAll += tokens[k];
        if (fate.get((long) k).equals("trained") && records.get(k).getAdapterId().equals("flood")) {
          contestedFlood += tokens[k];
        }
      }
    }
    double overall = (double) contestedFlood / contestedAll;
    System.out.printf("flood share: at most %.3f of a window before a trained record (%d checked), %.3f of all "
        + "tokens of the contested stretch trained for the flood; cap %.2f%n", worst, checked, overall, MAX_SHARE);
    assertTrue(checked > 50, checked + " flood records trained under contention");
    // held to its share, not starved: the flood trains about as much as the cap allows
    assertTrue(overall > MAX_SHARE - 0.15 && overall <= MAX_SHARE + slack, "the flood took " + overall
        + " of the contested stretch's tokens");
  }

  /** Whether a record with this fate reached the training operator's share accounting. */
  private static boolean reachesTrainer(String fate) {
    return fate.equals("trained") || fate.equals("OVER_SHARE");
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
