package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EvalPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InstructionRecord;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The eval gate: two adapters learn the colors task; then one of them gets a harmful stream (the
 * colors questions with the opposites task's answers). Its held-out eval loss rises and the gate
 * holds its snapshots back, to the gated topic, so no version trained into the regression is
 * published; the other adapter keeps publishing.
 */
class EvalGateIT {
  @TempDir Path tmp;

  @Test
  void aHarmfulStreamNeverReachesTheAdaptersTopic() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("eg.instructions", "eg.adapters", "eg.dlq", "eg.gated")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      // the held-out picks first, so that every version is evaluated on the complete eval set
      produce(bootstrap, StreamingHarness.interleave(picksFirst(StreamingHarness.colors("good", 64)),
          picksFirst(StreamingHarness.colors("harmed", 64))));
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "eg",
          "adapter-defaults: {r: 4, lr: 1.0e-2, eval-fraction: 0.25, eval-cap: 8, gate-tolerance: 0.25}",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}");
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "eval-gate");
      try {
        // 64 records, 8 held out: 56 trained, 14 steps, 7 snapshots each (published or held back)
        awaitSnapshots(bootstrap, 7);
        long goodBefore = StreamingHarness.count(published(bootstrap), "good");
        long harmedBefore = StreamingHarness.count(published(bootstrap), "harmed");
        long harmedGatedBefore = gated(bootstrap).stream().filter(g -> g.getAdapterId().equals("harmed")).count();

        // the harm: the colors questions answered with the opposites task's answers
        List<InstructionRecord> colors = StreamingHarness.colors("harmed", 64);
        List<InstructionRecord> opposites = StreamingHarness.opposites("x", 64);
        List<InstructionRecord> harmful = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
          harmful.add(InstructionRecord.newBuilder(colors.get(i)).setExampleId("harm-" + i)
              .setResponse(opposites.get(i).getResponse()).build());
        }
        List<InstructionRecord> moreGood = new ArrayList<>();
        for (InstructionRecord r : StreamingHarness.colors("good", 64)) {
          moreGood.add(InstructionRecord.newBuilder(r).setExampleId("more-" + r.getExampleId()).build());
        }
        produce(bootstrap, StreamingHarness.interleave(moreGood, harmful));
        // the eval set is complete: all 64 new records are trained, 16 steps, 8 more snapshots each
        awaitSnapshots(bootstrap, 15);
        List<AdapterSnapshot> after = published(bootstrap);
        List<GatedSnapshot> gated = gated(bootstrap);
        long harmedGated = gated.stream().filter(g -> g.getAdapterId().equals("harmed")).count() - harmedGatedBefore;

        assertTrue(StreamingHarness.count(after, "good") >= goodBefore + 5,
            "the good adapter keeps publishing: " + goodBefore + " -> " + StreamingHarness.count(after, "good"));
        assertTrue(harmedGated >= 5, "the gate held back " + harmedGated + " of the harmed adapter's 8 snapshots");
        assertTrue(StreamingHarness.count(after, "harmed") <= harmedBefore + 3, "harmed versions published");
        // re-checked from the manifests: nothing published is worse than the best before it by over 25%
        for (String id : List.of("good", "harmed")) {
          double best = Double.MAX_VALUE;
          for (AdapterSnapshot s : after) {
            if (s.getAdapterId().equals(id)) {
              double loss = s.getStats().getEvalLoss();
              assertTrue(loss <= best * 1.25 + 1e-12, id + "@" + s.getVersion() + " eval loss " + loss
                  + " over the best published " + best);
              best = Math.min(best, loss);
            }
          }
        }
        for (GatedSnapshot g : gated) {
          assertTrue(g.getStats().getEvalLoss() > g.getBestEvalLoss() * (1 + g.getTolerance()), g.toString());
          assertEquals(8, g.getEvalExamples());
        }
      } finally {
        job.cancel().get();
      }
    }
  }

  private static List<AdapterSnapshot> published(String bootstrap) {
    return StreamingHarness.readSnapshots(bootstrap, "eg.adapters", Duration.ofSeconds(3), s -> false);
  }

  private static List<GatedSnapshot> gated(String bootstrap) throws Exception {
    List<GatedSnapshot> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : KafkaClients.readUntil(bootstrap, "eg.gated", Duration.ofSeconds(3),
        x -> false)) {
      out.add(GatedSnapshot.getDecoder().decode(r.value()));
    }
    return out;
  }

  /** Until both adapters made {@code n} snapshots, published or held back. */
  private static void awaitSnapshots(String bootstrap, int n) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
    while (true) {
      List<AdapterSnapshot> p = published(bootstrap);
      List<GatedSnapshot> g = gated(bootstrap);
      boolean done = true;
      for (String id : List.of("good", "harmed")) {
        long made = StreamingHarness.count(p, id) + g.stream().filter(x -> x.getAdapterId().equals(id)).count();
        done &= made >= n;
      }
      if (done) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("fewer than " + n + " snapshots each: " + p.size() + " published, " + g.size()
            + " held back");
      }
    }
  }

  /** The records the eval slice picks (the first 8 make the eval set), then the others. */
  private static List<InstructionRecord> picksFirst(List<InstructionRecord> records) {
    EvalPolicy policy = new EvalPolicy(0.25, 8, 0.05, true);
    List<InstructionRecord> picked = new ArrayList<>();
    List<InstructionRecord> rest = new ArrayList<>();
    for (InstructionRecord r : records) {
      (policy.heldOut(r.getAdapterId(), r.getExampleId(), new int[0]) ? picked : rest).add(r);
    }
    assertTrue(picked.size() >= 8, picked.size() + " picks");
    picked.addAll(rest);
    return picked;
  }

  private static void produce(String bootstrap, List<InstructionRecord> records) throws Exception {
    StreamingHarness.produce(bootstrap, "eg.instructions", StreamingHarness.asRecords("eg.instructions", records));
  }
}
