package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.EvalPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.InstructionRecord;
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
 * The eval gate: two adapters learn the colors task; then one of them gets a harmful stream (the
 * colors questions with the opposites task's answers). Its held-out eval loss rises and the gate
 * holds its snapshots back, to the gated topic, so no version trained into the regression is
 * published; the other adapter keeps publishing. The eval losses are recomputed without the job
 * (the engine trains each adapter on its records as they arrived) and every decision must follow
 * from them.
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
      List<InstructionRecord> phase1 = StreamingHarness.interleave(picksFirst(StreamingHarness.colors("good", 64)),
          picksFirst(StreamingHarness.colors("harmed", 64)));
      produce(bootstrap, phase1);
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
        List<InstructionRecord> phase2 = StreamingHarness.interleave(moreGood, harmful);
        produce(bootstrap, phase2);
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
        // recomputed without the job: the engine trains each adapter on its records as they came
        List<InstructionRecord> all = new ArrayList<>(phase1);
        all.addAll(phase2);
        for (String id : List.of("good", "harmed")) {
          Replay replay = replay(c.job().profiles().forAdapter(id), id, all);
          assertDecisionsFollow(id, replay, after, gated, 0.25);
        }
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
    }
  }

  private static List<AdapterSnapshot> published(String bootstrap) {
    return StreamingHarness.allSnapshots(bootstrap, "eg.adapters");
  }

  private static List<GatedSnapshot> gated(String bootstrap) throws Exception {
    List<GatedSnapshot> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : StreamingHarness.readToEnd(bootstrap, "eg.gated")) {
      out.add(io.bonestream.schemas.GatedSnapshots.decode(r.value()));
    }
    return out;
  }

  /** An adapter trained by the engine alone: its eval set, its eval loss after every second step, the model. */
  private record Replay(List<Example> eval, Map<Long, Double> lossAtStep, BaseModel base, AdapterProfile profile) {}

  /**
   * The engine on {@code id}'s records in arrival order: the first records the eval policy holds
   * out fill the eval set (never trained on), the rest train in steps of 4, and the eval loss is
   * taken after every second step, where the job makes a snapshot.
   */
  private static Replay replay(AdapterProfile profile, String id, List<InstructionRecord> arrivals) throws Exception {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    List<Example> eval = new ArrayList<>();
    List<Example> train = new ArrayList<>();
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
      ExampleEncoder encoder = new ExampleEncoder(tok, 64, base.config().vocabSize());
      for (InstructionRecord r : arrivals) {
        if (!r.getAdapterId().equals(id)) {
          continue;
        }
        Example e = encoder.promptResponse(r.getSystem(), r.getPrompt(), r.getResponse());
        boolean heldOut = eval.size() < profile.eval().cap() && profile.eval().heldOut(id, r.getExampleId(), e.inputIds());
        (heldOut ? eval : train).add(e);
      }
    }
    Map<Long, Double> losses = new TreeMap<>();
    try (Trainer t = Trainer.create(base, profile.adapter(), profile.train())) {
      for (int i = 0; i + 4 <= train.size(); i += 4) {
        t.step(train.subList(i, i + 4));
        if (t.step() % 2 == 0) {
          losses.put(t.step(), t.evaluate(eval));
        }
      }
    }
    return new Replay(eval, losses, base, profile);
  }

  /**
   * Each snapshot of {@code id}, published or held back, carries the replay's eval loss at its
   * step; a published version's own weights give that loss on the eval set; and the gate's
   * decision is the one the replayed losses call for: held back exactly when worse than the best
   * published one by more than the tolerance.
   */
  private static void assertDecisionsFollow(String id, Replay replay, List<AdapterSnapshot> published,
      List<GatedSnapshot> gated, double tolerance) {
    Map<Long, AdapterSnapshot> versions = new TreeMap<>();
    published.stream().filter(v -> v.getAdapterId().equals(id)).forEach(v -> versions.put(v.getStats().getStep(), v));
    Map<Long, GatedSnapshot> held = new TreeMap<>();
    gated.stream().filter(g -> g.getAdapterId().equals(id)).forEach(g -> held.put(g.getStats().getStep(), g));
    java.util.Set<Long> steps = new java.util.TreeSet<>(versions.keySet());
    steps.addAll(held.keySet());
    assertEquals(replay.lossAtStep().keySet(), steps, id + ": snapshot steps");
    double best = Double.NaN;
    for (long step : steps) {
      double loss = replay.lossAtStep().get(step);
      AdapterSnapshot v = versions.get(step);
      GatedSnapshot g = held.get(step);
      double reported = v != null ? v.getStats().getEvalLoss() : g.getStats().getEvalLoss();
      assertEquals(loss, reported, 1e-4 * loss, id + " step " + step + ": the job's eval loss");
      if (v != null) {
        InlineAdapter payload = (InlineAdapter) v.getPayload();
        byte[] weights = new byte[payload.getAdapterModelSafetensors().remaining()];
        payload.getAdapterModelSafetensors().duplicate().get(weights);
        AdapterSet adapters = PeftImporter.read(payload.getAdapterConfigJson(), weights, replay.base(), id);
        try (Trainer t = Trainer.withAdapters(replay.base(), adapters, replay.profile().train())) {
          assertEquals(loss, t.evaluate(replay.eval()), 1e-4 * loss, id + "@" + v.getVersion()
              + ": eval loss of the published weights");
        }
      }
      if (!Double.isNaN(best)) {
        double bar = best * (1 + tolerance);
        if (Math.abs(loss - bar) > 1e-3 * bar) { // not a tie within rounding
          assertEquals(loss > bar, g != null, id + " step " + step + ": eval loss " + loss + " against the bar "
              + bar + (g != null ? ": held back" : ": published"));
        }
      }
      if (v != null) {
        best = Double.isNaN(best) ? loss : Math.min(best, loss);
      }
    }
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
      Thread.sleep(300);
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
