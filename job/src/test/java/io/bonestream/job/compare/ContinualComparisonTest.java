package io.bonestream.job.compare;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.job.demo.DemoTask;
import io.bonestream.operators.train.ContinualPolicy;
import io.bonestream.operators.train.DriftDetector;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The drift and harm scenarios of {@code compare}, small. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ContinualComparisonTest {
  private static final int PHASE = 30;
  private static final int EVAL_EVERY = 15;
  private static final int BATCH = 8;
  private static final int CAPACITY = 24;

  private static BaseModel base;
  private static Tokenizer tokenizer;
  private static List<Example> anchor;
  private static List<String> anchorTexts;
  private static double independentBase;
  private static ContinualComparison.Result drift;

  @TempDir Path tmp;

  @BeforeAll
  static void runDrift() throws Exception {
    Path dir = TestFiles.stories260K();
    base = BaseModel.load(dir);
    tokenizer = Tokenizer.load(dir, base.config());
    Path file = TestFiles.models().getParent().resolve("examples/anchor-stories.jsonl");
    anchorTexts = new ArrayList<>();
    for (String line : Files.readAllLines(file)) {
      var record = io.bonestream.core.util.Json.MAPPER.readTree(line);
      if (record.has("text")) { // the set mixes formats; its plain stories are scrambled below
        anchorTexts.add(record.get("text").asText());
      }
    }
    ExampleEncoder enc = ContinualComparison.encoder(base, tokenizer);
    anchor = ContinualComparison.readAnchor(file, enc);
    // the base alone, no adapter, in batches of another size than the comparison's
    independentBase = Trainer.evaluate(new Transformer(base, null), anchor, 3);
    drift = ContinualComparison.drift(base, tokenizer, anchor, new ContinualComparison.DriftPlan(DemoTask.COLORS,
        DemoTask.OPPOSITES, 4, 1e-2, PHASE, EVAL_EVERY, BATCH, 0.25, CAPACITY, 0.10, 42,
        DriftDetector.Settings.DEFAULT), new PrintWriter(new StringWriter()));
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  @Test
  void theAnchorSetIsTextTheBaseModelKnows() {
    assertEquals(12, anchor.size());
    // the stories' words in a random order: far less likely under a model of stories
    Random r = new Random(1);
    ExampleEncoder enc = ContinualComparison.encoder(base, tokenizer);
    List<Example> stories = new ArrayList<>();
    List<Example> shuffled = new ArrayList<>();
    for (String t : anchorTexts) {
      stories.add(enc.text(t));
      List<String> words = new ArrayList<>(List.of(t.split(" ")));
      Collections.shuffle(words, r);
      shuffled.add(enc.text(String.join(" ", words)));
    }
    assertTrue(stories.size() >= 8, stories.size() + " stories");
    double storyLoss = Trainer.evaluate(new Transformer(base, null), stories, 8);
    double shuffledLoss = Trainer.evaluate(new Transformer(base, null), shuffled, 8);
    assertTrue(storyLoss < 0.6 * shuffledLoss, storyLoss + " vs shuffled words " + shuffledLoss);
    assertTrue(independentBase < Math.log(base.config().vocabSize()) / 2, "base anchor loss " + independentBase);
  }

  @Test
  void theFirstAnchorLossIsTheBaseModels() {
    for (ContinualComparison.Run run : drift.runs()) {
      ContinualComparison.Row first = run.rows().get(0);
      assertEquals(0, first.step());
      assertEquals(independentBase, first.anchor(), 1e-4, run.name());
      assertEquals(independentBase, first.baseAnchor(), 1e-4, run.name());
    }
    assertEquals(independentBase, drift.baseAnchor(), 1e-4);
  }

  @Test
  void replayTrainsOnReplayedExamplesFromABoundedReservoir() {
    ContinualComparison.Run off = run(drift, "replay-off");
    ContinualComparison.Run on = run(drift, "replay-on");
    int perStep = new ContinualPolicy.Replay(0.25, CAPACITY, Long.MAX_VALUE).replaysFor(BATCH);
    assertEquals(2, perStep);
    assertEquals(0, off.replaysTrained());
    // nothing to replay before the first step's examples are offered; then every step
    assertEquals((long) (2 * PHASE - 1) * perStep, on.replaysTrained());
    assertEquals(2L * PHASE * BATCH, on.reservoirOffered());
    assertTrue(on.maxReservoirSize() <= CAPACITY, "reservoir grew to " + on.maxReservoirSize());
    assertEquals(CAPACITY, on.reservoirSize());
    // the same fresh examples, in the same order: the runs part only from the replays
    assertEquals(off.rows().get(0).evalA(), on.rows().get(0).evalA(), 1e-9);
    assertNotEquals(off.at(PHASE).evalA(), on.at(PHASE).evalA());
    // replay of task A while training task B keeps A's held-out loss lower
    assertTrue(on.last().evalA() < off.last().evalA(),
        "A's held-out loss at the end: replay on " + on.last().evalA() + ", off " + off.last().evalA());
    assertTrue(off.last().evalA() > off.at(PHASE).evalA(), "no forgetting without replay");
  }

  @Test
  void theDriftDetectorFiresAfterTheSwitchNotBefore() {
    ContinualComparison.Run off = run(drift, "replay-off");
    assertFalse(off.driftSteps().isEmpty(), "no drift event without replay");
    for (ContinualComparison.Run run : drift.runs()) {
      for (int s : run.driftSteps()) {
        // the switch's batch is step PHASE; three high batches in a row make the event
        assertTrue(s >= PHASE && s < PHASE + 10, run.name() + ": drift event at step " + s);
      }
    }
  }

  @Test
  void theCsvHasOneRowPerEvaluatedStep() throws Exception {
    Path csv = tmp.resolve("drift.csv");
    ContinualComparison.writeCsv(drift, csv);
    List<String> lines = Files.readAllLines(csv);
    assertEquals("scenario,run,phase,step,train_loss,eval_loss_a,eval_loss_b,anchor_loss,base_anchor_loss,drift,"
        + "held_back", lines.get(0));
    int row = 1;
    for (ContinualComparison.Run run : drift.runs()) {
      List<Integer> expected = new ArrayList<>();
      for (int s = 0; s <= 2 * PHASE; s++) {
        if (s % EVAL_EVERY == 0 || s == PHASE || s == 2 * PHASE || run.driftSteps().contains(s)) {
          expected.add(s);
        }
      }
      for (int s : expected) {
        String[] f = lines.get(row++).split(",", -1);
        assertEquals(11, f.length, String.join(",", f));
        assertEquals("drift", f[0]);
        assertEquals(run.name(), f[1]);
        assertEquals(s, Integer.parseInt(f[3]));
        assertEquals(s <= PHASE ? "A" : "B", f[2], "phase at step " + s);
        assertEquals(s == 0, f[4].isEmpty(), "train loss at step " + s);
        for (int c = 5; c <= 8; c++) {
          assertTrue(Double.isFinite(Double.parseDouble(f[c])), String.join(",", f));
        }
        assertEquals(run.driftSteps().contains(s) ? "1" : "0", f[9]);
        // the guard's rule written out, not the guard's code: above base × 1.10 is held back
        assertEquals(Double.parseDouble(f[7]) > independentBase * 1.10 ? "1" : "0", f[10]);
      }
    }
    assertEquals(lines.size(), row, "rows beyond the evaluated steps");
  }

  @Test
  void theAnchorGuardHoldsBackTheHarmfulVersionsOnly() throws Exception {
    double tolerance = 0.10;
    ContinualComparison.Result harm = ContinualComparison.harm(base, tokenizer, anchor,
        new ContinualComparison.HarmPlan(DemoTask.COLORS, 4, 1e-4, 20, 10, 1e-2, 10, BATCH, tolerance, 42,
            DriftDetector.Settings.DEFAULT), null);
    for (ContinualComparison.Run run : harm.runs()) {
      for (ContinualComparison.Row r : run.rows()) {
        // the guard's rule written out, not the guard's code
        assertEquals(r.anchor() > independentBase * (1 + tolerance), r.heldBack(), run.name() + " step " + r.step());
      }
    }
    ContinualComparison.Run normal = run(harm, "normal");
    ContinualComparison.Run harmful = run(harm, "harmful");
    assertTrue(normal.rows().stream().noneMatch(ContinualComparison.Row::heldBack), "a normal version held back");
    assertTrue(harmful.rows().stream().filter(r -> r.step() <= 20).noneMatch(ContinualComparison.Row::heldBack));
    assertTrue(harmful.last().heldBack(), "the harmful stream's last version passes: " + harmful.last());
    assertTrue(harmful.last().anchor() > independentBase * (1 + tolerance));
    assertEquals(List.of(0, 10, 20, 30), normal.rows().stream().map(ContinualComparison.Row::step).toList());
  }

  private static ContinualComparison.Run run(ContinualComparison.Result r, String name) {
    return r.runs().stream().filter(x -> x.name().equals(name)).findFirst().orElseThrow();
  }
}
