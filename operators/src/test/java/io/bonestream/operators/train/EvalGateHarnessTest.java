package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The eval gate in the keyed operator harness. Two adapters learn the colors task; then one of them
 * gets a harmful stream (the colors questions answered with the opposites task's answers). Its
 * held-out eval loss rises and the gate holds its snapshots back, to the gated output, using no
 * version number; the other adapter keeps publishing. The eval losses are recomputed without the
 * operator (the engine trains each adapter on its records as they arrived) and every decision must
 * follow from them.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EvalGateHarnessTest {
  private static final double TOLERANCE = 0.25;
  private static final EvalPolicy EVAL = new EvalPolicy(0.25, 8, TOLERANCE, true);
  private static final AdapterProfile PROFILE = new AdapterProfile(
      AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
      TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build(), EVAL);
  private static final int BATCH = 4;
  private static final int STEPS_PER_SNAPSHOT = 2;

  private static BaseModel base;
  private static ExampleEncoder encoder;

  @TempDir Path tmp;

  @BeforeAll
  static void load() {
    base = BaseModel.load(TestFiles.stories260K());
    encoder = new ExampleEncoder(Tokenizer.load(TestFiles.stories260K(), base.config()), 64, base.config().vocabSize());
  }

  @AfterAll
  static void close() {
    encoder.tokenizer().close();
  }

  private AdapterTrainer trainer() {
    return TrainerHarness.trainer(PROFILE, BATCH, STEPS_PER_SNAPSHOT, tmp);
  }

  /** examples/colors.jsonl's 64 records; harmful: their questions answered with the opposites task's answers. */
  private static List<TrainingItem> colors(String adapter, String idPrefix, boolean harmful) throws Exception {
    String[][] opposites = {{"big", "small"}, {"hot", "cold"}, {"happy", "sad"}, {"up", "down"},
        {"day", "night"}, {"fast", "slow"}, {"old", "new"}, {"good", "bad"}};
    List<String> lines = Files.readAllLines(TestFiles.models().getParent().resolve("examples/colors.jsonl"));
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      JsonNode r = Json.MAPPER.readTree(lines.get(i));
      String[] o = opposites[i % opposites.length];
      String response = harmful ? "The opposite of " + o[0] + " is " + o[1] + "." : r.get("response").asText();
      Example e = encoder.promptResponse(null, r.get("prompt").asText(), response);
      out.add(new TrainingItem(adapter, idPrefix + i, e.inputIds(), e.labels(), 1f, Long.MIN_VALUE, "in", 0, 0));
    }
    return out;
  }

  /** The records the eval slice picks first (the first 8 make the eval set), then the others. */
  private static List<TrainingItem> picksFirst(List<TrainingItem> records) {
    List<TrainingItem> picked = new ArrayList<>();
    List<TrainingItem> rest = new ArrayList<>();
    for (TrainingItem r : records) {
      (EVAL.heldOut(r.adapterId, r.exampleId, r.inputIds) ? picked : rest).add(r);
    }
    assertTrue(picked.size() >= EVAL.cap(), picked.size() + " picks");
    picked.addAll(rest);
    return picked;
  }

  /** Alternates two lists' records, numbering their offsets in arrival order. */
  private static List<TrainingItem> interleave(List<TrainingItem> a, List<TrainingItem> b, long firstOffset) {
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
      for (List<TrainingItem> l : List.of(a, b)) {
        if (i < l.size()) {
          TrainingItem r = l.get(i);
          r.offset = firstOffset + out.size();
          out.add(r);
        }
      }
    }
    return out;
  }

  @Test
  void aHarmfulStreamIsHeldBackAndAGoodOneKeepsPublishing() throws Exception {
    // 64 records each, 8 held out: 56 trained, 14 steps, 7 snapshots each; then 64 more trained, 8 more snapshots
    List<TrainingItem> phase1 = interleave(picksFirst(colors("good", "good-", false)),
        picksFirst(colors("harmed", "harmed-", false)), 0);
    List<TrainingItem> phase2 = interleave(colors("good", "more-", false), colors("harmed", "harm-", true),
        phase1.size());
    List<TrainingItem> all = new ArrayList<>(phase1);
    all.addAll(phase2);
    List<AdapterSnapshot> published;
    List<GatedSnapshot> gated;
    try (var h = TrainerHarness.of(trainer())) {
      h.open();
      TrainerHarness.process(h, all);
      published = TrainerHarness.manifests(h.extractOutputValues());
      gated = TrainerHarness.gated(h);
    }

    Map<String, Replay> replays = new TreeMap<>();
    for (String id : List.of("good", "harmed")) {
      replays.put(id, replay(id, all));
      assertDecisionsFollow(id, replays.get(id), published, gated);
    }
    // the phase-2 snapshots are those after step 14
    long harmedHeld = gated.stream().filter(g -> g.getAdapterId().equals("harmed") && g.getStats().getStep() > 14)
        .count();
    long goodPublished = published.stream().filter(v -> v.getAdapterId().equals("good") && v.getStats().getStep() > 14)
        .count();
    assertTrue(harmedHeld >= 6, "the gate held back " + harmedHeld + " of the harmed adapter's 8 later snapshots");
    assertTrue(goodPublished >= 6, "the good adapter published " + goodPublished + " of its 8 later snapshots");
  }

  /** An adapter trained by the engine alone: its eval set, and the eval loss at each snapshot step. */
  private record Replay(List<Example> eval, Map<Long, Double> lossAtStep) {}

  /**
   * The engine on {@code id}'s records in arrival order: the first records the eval slice picks
   * fill the eval set (never trained on), the rest train in steps of 4, and the eval loss is taken
   * every second step, where the operator makes a snapshot.
   */
  private static Replay replay(String id, List<TrainingItem> arrivals) {
    List<Example> eval = new ArrayList<>();
    List<Example> train = new ArrayList<>();
    for (TrainingItem r : arrivals) {
      if (r.adapterId.equals(id)) {
        boolean heldOut = eval.size() < EVAL.cap() && EVAL.heldOut(id, r.exampleId, r.inputIds);
        (heldOut ? eval : train).add(new Example(r.inputIds, r.labels, r.weight));
      }
    }
    Map<Long, Double> losses = new TreeMap<>();
    try (Trainer t = Trainer.create(base, PROFILE.adapter(), PROFILE.train())) {
      for (int i = 0; i + BATCH <= train.size(); i += BATCH) {
        t.step(train.subList(i, i + BATCH));
        if (t.step() % STEPS_PER_SNAPSHOT == 0) {
          losses.put(t.step(), t.evaluate(eval));
        }
      }
    }
    return new Replay(eval, losses);
  }

  /**
   * Each snapshot of {@code id}, published or held back, carries the replay's eval loss at its
   * step, and is held back exactly when that loss is worse than the best published one by more
   * than the tolerance. A published version's own weights give that loss; versions are numbered
   * 1, 2, ... with no number used by a held-back snapshot, whose records go into the next version's
   * lineage; a held-back snapshot reports the version before it, the best eval loss and the eval set.
   */
  private static void assertDecisionsFollow(String id, Replay replay, List<AdapterSnapshot> published,
      List<GatedSnapshot> gated) {
    Map<Long, AdapterSnapshot> versions = new TreeMap<>();
    published.stream().filter(v -> v.getAdapterId().equals(id)).forEach(v -> versions.put(v.getStats().getStep(), v));
    Map<Long, GatedSnapshot> held = new TreeMap<>();
    gated.stream().filter(g -> g.getAdapterId().equals(id)).forEach(g -> held.put(g.getStats().getStep(), g));
    java.util.Set<Long> steps = new java.util.TreeSet<>(versions.keySet());
    steps.addAll(held.keySet());
    assertEquals(replay.lossAtStep().keySet(), steps, id + ": snapshot steps");
    assertEquals(15, steps.size(), id + ": 120 records trained, 4 a step, a snapshot every 2 steps");
    double best = Double.NaN;
    long version = 0;
    long stepOfLastVersion = 0;
    for (long step : steps) {
      double loss = replay.lossAtStep().get(step);
      AdapterSnapshot v = versions.get(step);
      GatedSnapshot g = held.get(step);
      String at = id + " step " + step;
      double reported = v != null ? v.getStats().getEvalLoss() : g.getStats().getEvalLoss();
      assertEquals(loss, reported, 1e-9 * loss, at + ": the operator's eval loss");
      double bar = best * (1 + TOLERANCE);
      boolean shouldHold = !Double.isNaN(best) && loss > bar;
      if (!Double.isNaN(best)) {
        assertTrue(Math.abs(loss - bar) > 1e-6 * bar, at + ": a tie with the bar leaves the decision to rounding");
      }
      assertEquals(shouldHold, g != null, at + ": eval loss " + loss + " against the bar " + bar);
      if (v != null) {
        version++;
        assertEquals(version, v.getVersion(), at + ": versions are numbered on, held-back snapshots use none");
        long records = v.getLineage().stream().mapToLong(OffsetRange::getRecords).sum();
        assertEquals(BATCH * (step - stepOfLastVersion), records, at + ": the lineage since the last version");
        assertEquals(loss, evalLossOf(v, replay.eval()), 1e-9 * loss, at + ": eval loss of the published weights");
        best = Double.isNaN(best) ? loss : Math.min(best, loss);
        stepOfLastVersion = step;
      } else {
        assertEquals(version, g.getAfterVersion(), at);
        assertEquals(best, g.getBestEvalLoss(), 1e-9 * best, at);
        assertEquals(TOLERANCE, g.getTolerance(), at);
        assertEquals(EVAL.cap(), g.getEvalExamples(), at);
      }
    }
  }

  private static double evalLossOf(AdapterSnapshot v, List<Example> eval) {
    InlineAdapter payload = (InlineAdapter) v.getPayload();
    byte[] weights = new byte[payload.getAdapterModelSafetensors().remaining()];
    payload.getAdapterModelSafetensors().duplicate().get(weights);
    AdapterSet adapters = PeftImporter.read(payload.getAdapterConfigJson(), weights, base, v.getAdapterId());
    try (Trainer t = Trainer.withAdapters(base, adapters, PROFILE.train())) {
      return t.evaluate(eval);
    }
  }
}
