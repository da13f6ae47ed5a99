package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.Erasure;
import io.bonestream.schemas.GatedSnapshot;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The continual-learning guards in the keyed operator harness (docs/continual.md): replay restored
 * exactly from a snapshot of the operator's state, the anchor guard holding back a harmful stream's
 * versions, the drift signal firing on a task switch and not on a steady stream, the drift pin, and
 * erasure. Losses the guards decide on are recomputed here with the base model alone where they
 * can be.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ContinualHarnessTest {
  private static final AdapterConfig BAT = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
  private static final TrainConfig TRAIN = TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build();
  /** General story text: the anchor set of these tests. */
  private static final List<String> ANCHOR = List.of(
      "{\"text\": \"Once upon a time, there was a little girl named Lily. She liked to play in the park with her dog.\"}",
      "{\"text\": \"Tom had a red ball. He threw the ball to his friend Sam, and they laughed.\"}",
      "{\"text\": \"One day, a small bird sat in a big tree. The bird sang a happy song for the sun.\"}",
      "{\"text\": \"Mom made a cake for Ben. Ben was very happy and said thank you to his mom.\"}");

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

  private AdapterTrainer trainer(AdapterProfile profile, int stepsPerSnapshot) {
    return TrainerHarness.trainer(profile, 4, stepsPerSnapshot, tmp);
  }

  private static ContinualPolicy continual(ContinualPolicy.Anchor anchor, ContinualPolicy.Replay replay,
      ContinualPolicy.Drift drift, boolean retrain) {
    return new ContinualPolicy(anchor, replay, drift, retrain);
  }

  /** examples/colors.jsonl's 64 records for {@code adapter}; harmful: answers shuffled between them. */
  private static List<TrainingItem> colors(String adapter, String idPrefix, boolean shuffled) throws Exception {
    List<String> lines = Files.readAllLines(TestFiles.models().getParent().resolve("examples/colors.jsonl"));
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      JsonNode r = Json.MAPPER.readTree(lines.get(i));
      String response = shuffled ? Json.MAPPER.readTree(lines.get((i * 7 + 3) % lines.size())).get("response").asText()
          : r.get("response").asText();
      out.add(item(adapter, idPrefix + i, encoder.promptResponse(null, r.get("prompt").asText(), response), i));
    }
    return out;
  }

  /** A second task: opposites, 64 records. */
  private static List<TrainingItem> opposites(String adapter, String idPrefix) {
    String[][] pairs = {{"big", "small"}, {"hot", "cold"}, {"happy", "sad"}, {"up", "down"}, {"day", "night"},
        {"fast", "slow"}, {"old", "new"}, {"good", "bad"}};
    String[] asks = {"What is the opposite of %s?", "Tell me the opposite of %s.", "What word means the opposite "
        + "of %s?", "Say the opposite of %s.", "Opposite of %s?", "I need the opposite of %s.", "Which word is the "
        + "opposite of %s?", "Give the opposite of %s."};
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < 64; i++) {
      String[] p = pairs[i % 8];
      String prompt = String.format(asks[(i / 8) % 8], p[0]);
      out.add(item(adapter, idPrefix + i, encoder.promptResponse(null, prompt, "The opposite of " + p[0] + " is "
          + p[1] + "."), 1000 + i));
    }
    return out;
  }

  private static TrainingItem item(String adapter, String exampleId, Example e, long offset) {
    return new TrainingItem(adapter, exampleId, e.inputIds(), e.labels(), 1f, Long.MIN_VALUE, "in", 0, offset);
  }

  private static List<TrainingItem> concat(List<TrainingItem> a, List<TrainingItem> b) {
    List<TrainingItem> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  private record Run(List<AdapterSnapshot> published, List<GatedSnapshot> gated) {}

  private Run run(AdapterProfile profile, int stepsPerSnapshot, List<TrainingItem> items) throws Exception {
    try (var h = TrainerHarness.of(trainer(profile, stepsPerSnapshot))) {
      h.open();
      TrainerHarness.process(h, items);
      return new Run(TrainerHarness.manifests(h.extractOutputValues()), TrainerHarness.gated(h));
    }
  }

  @Test
  void replayIsRestoredExactlyFromASnapshotOfTheOperator() throws Exception {
    AdapterProfile profile = new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(ContinualPolicy.Anchor.OFF,
        new ContinualPolicy.Replay(0.5, 12, 1 << 20), ContinualPolicy.Drift.OFF, false));
    List<TrainingItem> items = concat(colors("a", "c", false), opposites("a", "o"));
    List<AdapterSnapshot> straight = run(profile, 2, items).published();
    assertEquals(16, straight.size(), "128 records, 32 steps, a version every 2");
    AdapterSnapshot last = straight.get(straight.size() - 1);
    assertEquals(62, last.getStats().getReplayedExamples(), "2 replays in each step but the first");
    assertEquals(128 + 62, last.getStats().getExamples(), "examples count the replays too");

    List<AdapterSnapshot> without = run(new AdapterProfile(BAT, TRAIN), 2, items).published();
    assertNotEquals(payloads(without), payloads(straight), "replay must change what is trained");

    OperatorSubtaskState snapshot;
    List<AdapterSnapshot> both;
    try (var h = TrainerHarness.of(trainer(profile, 2))) {
      h.open();
      TrainerHarness.process(h, items.subList(0, 72)); // mid-version: 18 steps, the reservoir full
      both = new ArrayList<>(TrainerHarness.manifests(h.extractOutputValues()));
      snapshot = h.snapshot(1L, 1L);
    }
    try (var h = TrainerHarness.of(trainer(profile, 2))) {
      h.initializeState(snapshot);
      h.open();
      TrainerHarness.process(h, items.subList(72, items.size()));
      both.addAll(TrainerHarness.manifests(h.extractOutputValues()));
    }
    assertEquals(straight, both, "the restored operator replayed something else");
  }

  private static List<String> payloads(List<AdapterSnapshot> manifests) {
    return manifests.stream().map(m -> String.valueOf(m.getPayload())).toList();
  }

  @Test
  void theAnchorGuardHoldsBackVersionsThatHarmTheBaseModelsGeneralAbility() throws Exception {
    ContinualPolicy.Anchor anchor = new ContinualPolicy.Anchor("test", ANCHOR, 1, 0, 0.10, true);
    List<TrainingItem> items = concat(colors("a", "c", false), colors("a", "s", true));
    // a sane learning rate first, then a far too high one on shuffled answers: the harmful stream
    TrainConfig harmful = TRAIN.toBuilder().lr(0.5).build();
    TrainConfig gentle = TRAIN.toBuilder().lr(2e-3).build();
    Run sane = run(new AdapterProfile(BAT, gentle, EvalPolicy.OFF, continual(anchor, ContinualPolicy.Replay.OFF,
        ContinualPolicy.Drift.OFF, false)), 2, items.subList(0, 64));
    Run harmed = run(new AdapterProfile(BAT, harmful, EvalPolicy.OFF, continual(anchor, ContinualPolicy.Replay.OFF,
        ContinualPolicy.Drift.OFF, false)), 2, items);

    List<Example> anchorSet = new ArrayList<>();
    for (String line : ANCHOR) {
      anchorSet.add(encoder.text(Json.MAPPER.readTree(line).get("text").asText()));
    }
    double baseLoss = Trainer.evaluate(new Transformer(base, null), anchorSet, 4); // the base model alone
    assertEquals(8, sane.published().size());
    for (AdapterSnapshot m : sane.published()) {
      assertEquals(baseLoss, m.getStats().getBaseAnchorLoss(), 1e-6); // the trainer scores in float32
      assertTrue(m.getStats().getAnchorLoss() <= baseLoss * 1.10, m.getStats().toString());
    }
    assertTrue(sane.gated().isEmpty());

    assertTrue(harmed.gated().size() >= 4, harmed.gated().size() + " held back");
    for (GatedSnapshot g : harmed.gated()) {
      assertEquals("ANCHOR_LOSS", g.getReason());
      assertEquals(0.10, g.getTolerance());
      assertTrue(g.getStats().getAnchorLoss() > baseLoss * 1.10, g.getStats().toString());
      assertEquals(baseLoss, g.getStats().getBaseAnchorLoss(), 1e-6); // the trainer scores in float32
    }
    for (AdapterSnapshot m : harmed.published()) {
      assertTrue(m.getStats().getAnchorLoss() <= baseLoss * 1.10, m.getStats().toString());
    }
    assertEquals(16, harmed.published().size() + harmed.gated().size(), "every due snapshot judged");
    // the versions are numbered without gaps: a held-back snapshot uses no number
    for (int i = 0; i < harmed.published().size(); i++) {
      assertEquals(i + 1, harmed.published().get(i).getVersion());
    }

    Run unguarded = run(new AdapterProfile(BAT, harmful, EvalPolicy.OFF, continual(
        new ContinualPolicy.Anchor("test", ANCHOR, 1, 0, 0.10, false), ContinualPolicy.Replay.OFF,
        ContinualPolicy.Drift.OFF, false)), 2, items);
    assertEquals(16, unguarded.published().size(), "with gate: false the anchor loss is only reported");
  }

  @Test
  void theAnchorSetIsScoredOnlyEveryKVersions() throws Exception {
    ContinualPolicy.Anchor every3 = new ContinualPolicy.Anchor("test", ANCHOR, 3, 0, 0.10, false);
    Run r = run(new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(every3, ContinualPolicy.Replay.OFF,
        ContinualPolicy.Drift.OFF, false)), 2, colors("a", "c", false));
    List<Boolean> scored = r.published().stream().map(m -> m.getStats().getAnchorLoss() != null).toList();
    assertEquals(List.of(true, false, false, true, false, false, true, false), scored);

    // every version, but only after 1,000 more tokens: the colors records hold about 40 tokens each,
    // so about 160 per step and 320 per version: every fourth version is scored (the tokens counted
    // independently from the published statistics)
    ContinualPolicy.Anchor byTokens = new ContinualPolicy.Anchor("test", ANCHOR, 1, 1000, 0, 0.10, false);
    List<AdapterSnapshot> v = run(new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(byTokens,
        ContinualPolicy.Replay.OFF, ContinualPolicy.Drift.OFF, false)), 2, colors("a", "c", false)).published();
    long last = -1;
    List<Boolean> expected = new ArrayList<>();
    for (AdapterSnapshot m : v) {
      boolean due = last < 0 || m.getStats().getTokens() - last >= 1000;
      expected.add(due);
      if (due) {
        last = m.getStats().getTokens();
      }
    }
    assertEquals(expected, v.stream().map(m -> m.getStats().getAnchorLoss() != null).toList());
    assertTrue(expected.stream().filter(b -> !b).count() >= 4, expected.toString());
  }

  @Test
  void driftFiresOnATaskSwitchAndNotOnASteadyStream() throws Exception {
    AdapterProfile profile = new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(ContinualPolicy.Anchor.OFF,
        ContinualPolicy.Replay.OFF, ContinualPolicy.Drift.DEFAULT, false));
    // the same task four times over: the loss falls, then settles and wavers around its level
    List<TrainingItem> steady = concat(concat(colors("a", "c", false), colors("a", "d", false)),
        concat(colors("a", "e", false), colors("a", "f", false)));
    List<AdapterSnapshot> quiet = run(profile, 2, steady).published();
    assertEquals(0, quiet.get(quiet.size() - 1).getStats().getDriftEvents(), "a steady stream drifts nowhere");
    assertTrue(quiet.stream().allMatch(m -> m.getDrift() == null));

    List<AdapterSnapshot> switched = run(profile, 2, concat(colors("a", "c", false), opposites("a", "o"))).published();
    assertEquals(1, switched.get(switched.size() - 1).getStats().getDriftEvents(), "one switch, one event");
    List<AdapterSnapshot> told = switched.stream().filter(m -> m.getDrift() != null).toList();
    assertEquals(1, told.size(), "the event is told by the next version only");
    var event = told.get(0).getDrift();
    // colors take steps 0-15; the event needs 3 high batches in a row from the switch on
    assertTrue(event.getStep() >= 16 && event.getStep() <= 20, "drift at step " + event.getStep());
    assertTrue(event.getLoss() > event.getBaseline() * 1.15, event.toString());
    assertEquals("NONE", event.getAction());
  }

  @Test
  void aDriftWithRewarmStartsTheScheduleOverAtTheEventAndChangesNothingBefore() throws Exception {
    TrainConfig warm = TRAIN.toBuilder().warmupSteps(4).build();
    List<TrainingItem> items = concat(colors("a", "c", false), opposites("a", "o"));
    List<AdapterSnapshot> plain = run(new AdapterProfile(BAT, warm, EvalPolicy.OFF, continual(
        ContinualPolicy.Anchor.OFF, ContinualPolicy.Replay.OFF, ContinualPolicy.Drift.DEFAULT, false)), 1, items)
        .published();
    List<AdapterSnapshot> rewarmed = run(new AdapterProfile(BAT, warm, EvalPolicy.OFF, continual(
        ContinualPolicy.Anchor.OFF, ContinualPolicy.Replay.OFF,
        new ContinualPolicy.Drift(true, 0.2, 3.0, 0.5, 3, 8, ContinualPolicy.OnDrift.REWARM), false)), 1, items)
        .published();
    assertEquals(32, plain.size());
    assertEquals(32, rewarmed.size());
    var event = rewarmed.stream().filter(m -> m.getDrift() != null).findFirst().orElseThrow().getDrift();
    assertEquals("REWARM", event.getAction());
    for (int v = 0; v < 32; v++) {
      long step = plain.get(v).getStats().getStep();
      String a = String.valueOf(plain.get(v).getPayload());
      String b = String.valueOf(rewarmed.get(v).getPayload());
      if (step <= event.getStep()) {
        assertEquals(a, b, "before the event, at step " + step);
      } else if (step == event.getStep() + 1) {
        // the schedule starts over: the first step after the event has a learning rate of 0
        assertEquals(String.valueOf(rewarmed.get(v - 1).getPayload()), b, "the first step after the event");
      } else {
        assertNotEquals(a, b, "after the event, at step " + step);
      }
    }
  }

  @Test
  void aDriftPinHoldsVersionsBackUntilTheNewEvalSetIsFull() throws Exception {
    EvalPolicy eval = new EvalPolicy(0.25, 4, 0.5, true);
    AdapterProfile profile = new AdapterProfile(BAT, TRAIN, eval, continual(ContinualPolicy.Anchor.OFF,
        ContinualPolicy.Replay.OFF, new ContinualPolicy.Drift(true, 0.2, 3.0, 0.5, 3, 8, ContinualPolicy.OnDrift.PIN),
        false));
    Run r = run(profile, 2, concat(colors("a", "c", false), opposites("a", "o")));
    List<GatedSnapshot> pinned = r.gated().stream().filter(g -> "DRIFT_PIN".equals(g.getReason())).toList();
    assertTrue(!pinned.isEmpty(), "the pin holds versions back: " + r.gated());
    long pinnedAfter = pinned.get(0).getAfterVersion();
    for (GatedSnapshot g : pinned) {
      assertEquals(pinnedAfter, g.getAfterVersion(), "no version between the drift and the end of the pin");
      assertTrue(g.getEvalExamples() < 4, "pinned while the new eval set fills: " + g.getEvalExamples());
    }
    AdapterSnapshot next = r.published().stream().filter(m -> m.getVersion() == pinnedAfter + 1).findFirst()
        .orElseThrow(() -> new AssertionError("no version after the pin ended"));
    assertEquals("PIN", next.getDrift().getAction());
    assertTrue(next.getStats().getEvalLoss() != null);
  }

  @Test
  void anErasureRemovesTheNamedExamplesAndTheNextManifestTellsIt() throws Exception {
    EvalPolicy eval = new EvalPolicy(0.25, 4, 0.5, false);
    AdapterProfile profile = new AdapterProfile(BAT, TRAIN, eval, continual(ContinualPolicy.Anchor.OFF,
        new ContinualPolicy.Replay(0.5, 64, 1 << 20), ContinualPolicy.Drift.OFF, true));
    List<TrainingItem> items = colors("a", "c", false);
    for (TrainingItem i : items) {
      i.userId = "user-" + (i.offset % 5);
    }
    TrainingItem heldOut = items.stream().filter(i -> eval.heldOut("a", i.exampleId, i.inputIds)).findFirst()
        .orElseThrow();
    // the first 42 records as the trainer sees them: up to 4 held out, the rest trained 4 to a step,
    // a version every 4 steps; the last step's examples were trained since the last version
    List<TrainingItem> trainedOn = new ArrayList<>();
    int held = 0;
    for (TrainingItem i : items.subList(0, 42)) {
      if (held < eval.cap() && eval.heldOut("a", i.exampleId, i.inputIds)) {
        held++;
      } else {
        trainedOn.add(i);
      }
    }
    int steps = trainedOn.size() / 4;
    assertTrue(steps % 4 != 0, "the test needs a step after the last version");
    TrainingItem sinceVersion = trainedOn.get(steps * 4 - 1);
    try (var h = TrainerHarness.of(trainer(profile, 4))) {
      h.open();
      TrainerHarness.process(h, items.subList(0, 42)); // not a multiple of 4: some examples wait in the buffer
      int before = TrainerHarness.manifests(h.extractOutputValues()).size();
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", null, "user-2", false, "control", 0, 5)));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", heldOut.exampleId, null, true, "control", 0, 6)));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("nobody", "x", null, false, "control", 0, 7)));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", sinceVersion.exampleId, null, true, "control", 0, 8)));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", sinceVersion.exampleId, null, true, "control", 0, 9)));
      TrainerHarness.process(h, items.subList(42, 64));
      List<AdapterSnapshot> all = TrainerHarness.manifests(h.extractOutputValues());
      AdapterSnapshot next = all.get(before);
      List<Erasure> erasures = next.getErasures();
      assertEquals(4, erasures.size(), next.toString());
      Erasure byUser = erasures.get(0);
      assertEquals("user-2", byUser.getUserId());
      assertNull(byUser.getExampleId());
      assertEquals(5, byUser.getOffset());
      assertTrue(byUser.getRemovedReplay() > 0, byUser.toString());
      assertTrue(!byUser.getRetrained());
      Erasure byExample = erasures.get(1);
      assertEquals(heldOut.exampleId, byExample.getExampleId());
      assertEquals(heldOut.userId.equals("user-2") ? 0 : 1, byExample.getRemovedEval(), byExample.toString());
      assertTrue(!byExample.getRetrained(), "never trained on: nothing to undo " + byExample);
      assertEquals(0, byExample.getDiscardedSteps());
      Erasure trained = erasures.get(2);
      assertEquals(sinceVersion.exampleId, trained.getExampleId());
      assertTrue(trained.getRetrained(), trained.toString());
      assertEquals(steps % 4, trained.getDiscardedSteps(), trained.toString());
      Erasure again = erasures.get(3);
      assertTrue(!again.getRetrained(), "its step is gone already: a repeated request changes nothing " + again);
      assertEquals(0, again.getDiscardedSteps());
      for (int k = before + 1; k < all.size(); k++) {
        assertTrue(all.get(k).getErasures().isEmpty(), "told once");
      }
      // retrained from the last version: the next version's step counts from the last version's
      AdapterSnapshot previous = all.get(before - 1);
      assertEquals(previous.getStats().getStep() + 4, next.getStats().getStep(),
          "back to version " + previous.getVersion() + ", then one snapshot's steps");
    }
  }

  @Test
  void aRetrainUndoesAReplayOfTheNamedUsersExampleSinceTheLastVersion() throws Exception {
    AdapterProfile profile = new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(ContinualPolicy.Anchor.OFF,
        new ContinualPolicy.Replay(0.5, 64, 1 << 20), ContinualPolicy.Drift.OFF, true));
    List<TrainingItem> items = colors("a", "c", false);
    // steps 1-8 (two versions) train user "old"'s examples only; step 9 trains new users' fresh examples
    // and replays from a reservoir that holds only "old"'s: nothing of "old" but the replays since version 2
    for (int k = 0; k < items.size(); k++) {
      items.get(k).userId = k < 32 ? "old" : "new-" + k;
    }
    try (var h = TrainerHarness.of(trainer(profile, 4))) {
      h.open();
      TrainerHarness.process(h, items.subList(0, 36));
      int before = TrainerHarness.manifests(h.extractOutputValues()).size();
      assertEquals(2, before, "versions at steps 4 and 8");
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", null, "old", true, "control", 0, 1)));
      TrainerHarness.process(h, items.subList(36, 52));
      List<AdapterSnapshot> all = TrainerHarness.manifests(h.extractOutputValues());
      Erasure e = all.get(before).getErasures().get(0);
      assertTrue(e.getRetrained(), "step 9 replayed old's examples: " + e);
      assertEquals(1, e.getDiscardedSteps(), e.toString());
      assertTrue(e.getRemovedReplay() > 0, e.toString());
    }
  }

  @Test
  void aRetrainNeverGoesBackFurtherThanTheLastVersionWhenErasureRetrainWasOffMeanwhile() throws Exception {
    ContinualPolicy.Replay noReplay = ContinualPolicy.Replay.OFF;
    AdapterProfile on = new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(ContinualPolicy.Anchor.OFF,
        noReplay, ContinualPolicy.Drift.OFF, true));
    AdapterProfile off = new AdapterProfile(BAT, TRAIN, EvalPolicy.OFF, continual(ContinualPolicy.Anchor.OFF,
        noReplay, ContinualPolicy.Drift.OFF, false));
    List<TrainingItem> items = colors("a", "c", false);
    OperatorSubtaskState snapshot;
    try (var h = TrainerHarness.of(trainer(on, 4))) { // version 1 (step 4) kept for erasures
      h.open();
      TrainerHarness.process(h, items.subList(0, 16));
      snapshot = h.snapshot(1L, 1L);
    }
    try (var h = TrainerHarness.of(trainer(off, 4))) { // version 2 (step 8) with erasure-retrain off
      h.initializeState(snapshot);
      h.open();
      TrainerHarness.process(h, items.subList(16, 32));
      snapshot = h.snapshot(2L, 2L);
    }
    try (var h = TrainerHarness.of(trainer(on, 4))) { // on again: one step, then a request naming it
      h.initializeState(snapshot);
      h.open();
      TrainerHarness.process(h, items.subList(32, 36));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", items.get(33).exampleId, null, true, "control", 0, 1)));
      TrainerHarness.process(h, items.subList(36, 48));
      List<AdapterSnapshot> published = TrainerHarness.manifests(h.extractOutputValues());
      assertEquals(1, published.size(), "version 3 at step 12; none if the request sent the adapter back to step 4");
      Erasure e = published.get(0).getErasures().get(0);
      assertTrue(!e.getRetrained(), "version 2's state was never kept: not back to version 1 " + e);
      assertEquals(0, e.getDiscardedSteps());
      assertEquals(3, published.get(0).getVersion());
      assertEquals(12, published.get(0).getStats().getStep(), "no step dropped");
    }
  }

}
