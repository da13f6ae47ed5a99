package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.config.TrainConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code bench --continual}'s measurement: its structure and sanity, never its timings. */
class ContinualBenchTest {
  @Test
  @Timeout(120)
  void measuresEachGuardAndWhatItKeeps() {
    Path examples = TestFiles.models().getParent().resolve("examples");
    ContinualBench.Setup setup = new ContinualBench.Setup(TestFiles.stories260K(),
        AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        TrainConfig.builder().lr(1e-4).batchSize(4).maxSeqLen(64).seed(42).build(), 8,
        examples.resolve("colors.jsonl"), examples.resolve("anchor-stories.jsonl"), 0.25, 32, 1L << 20, 10);
    ContinualBench.Result r = ContinualBench.run(setup, 1, 4, 2, BackendFactory.CPU);

    assertEquals("stories260K", r.model());
    assertEquals("bat", r.method());
    assertEquals(4, r.steps());
    assertEquals(2, r.repeats());
    assertEquals(2, r.replaysPerStep(), "0.25 of 8 fresh examples");
    assertTrue(r.freshTokensPerStep() > 0);
    for (double t : new double[] {r.plainSeconds(), r.replaySeconds(), r.replayDriftSeconds(),
        r.reservoirCodecSeconds(), r.anchorSeconds(), r.versionStateSeconds(), r.trainedRecordSeconds()}) {
      assertTrue(t > 0 && Double.isFinite(t), "a time is positive: " + r);
    }
    assertTrue(r.reservoirCodecSeconds() < r.replaySeconds(), "the codec is part of the replay step");
    assertEquals(r.replayRatio(), ContinualBench.median(new double[] {r.replayRatioMin(), r.replayRatioMax()}),
        1e-9, "two blocks: the median is the middle of the two");
    assertTrue(r.replayRatioMin() <= r.replayRatio() && r.replayRatio() <= r.replayRatioMax());
    assertTrue(r.replayDriftRatioMin() <= r.replayDriftRatio() && r.replayDriftRatio() <= r.replayDriftRatioMax());
    assertEquals(r.anchorSeconds() / 10, r.anchorPerStepSeconds(), 1e-12);
    assertEquals(r.anchorPerStepSeconds() / r.plainSeconds(), r.anchorPerStepRatio(), 1e-9);

    assertEquals(12, r.anchorExamples(), "every record of examples/anchor-stories.jsonl (no token budget)");
    assertTrue(r.anchorTokens() > 0);
    assertEquals(8 * r.anchorTokens(), r.anchorTokenBytes());

    assertEquals(32, r.capacity());
    assertEquals(32, r.reservoirSize(), "filled to capacity before the timed steps");
    assertTrue(r.reservoirBytes() > 0 && r.reservoirBytes() <= r.maxBytes());
    assertTrue(r.reservoirStateBytes() > 0 && r.reservoirStateBytes() <= r.maxBytes() + 1024);
    assertEquals(r.trainingStateBytes(), r.versionStateBytes(), "the version state is a training state");
    // 4 steps of 8 fresh ids and 2 replays' example and user ids, fewer than a version's 10: at most 48 fingerprints
    assertTrue(r.trainedRecordBytes() > 6 + 8 * 8 && r.trainedRecordBytes() <= 6 + 8 * 48, "record " + r);
    assertTrue(r.adapterParameterBytes() > 0 && r.adapterParameterBytes() < r.trainingStateBytes(),
        "the training state holds the parameters and more (the optimizer's moments)");
  }
}
