package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * The drift detector on loss streams with a known shape (fixed seeds): a steady or learning stream
 * never drifts, lone spikes do not, a task switch does, once, within {@code sustain} batches.
 */
class DriftDetectorTest {
  private static final DriftDetector.Settings C = DriftDetector.Settings.DEFAULT;

  /** The batches (0-based) at which a drift fired. */
  private static List<Integer> events(int n, IntToDoubleFunction loss) {
    DriftDetector.State s = DriftDetector.State.EMPTY;
    List<Integer> at = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      DriftDetector.Verdict v = DriftDetector.observe(s, loss.applyAsDouble(i), C);
      if (v.drift()) {
        at.add(i);
      }
      s = v.state();
    }
    return at;
  }

  @Test
  void aSteadyOrLearningStreamNeverDrifts() {
    Random r = new Random(7);
    assertEquals(List.of(), events(3000, i -> 2.0 + 0.1 * r.nextGaussian()));
    Random q = new Random(8);
    // learning: from 4.0 down to 1.5, noisy
    assertEquals(List.of(), events(3000, i -> 1.5 + 2.5 * Math.exp(-i / 300.0) + 0.08 * q.nextGaussian()));
  }

  @Test
  void loneSpikesAreNoise() {
    Random r = new Random(9);
    // every 40th batch 60% higher, and every 100th the one after it too: never three in a row
    assertEquals(List.of(), events(4000, i -> (i % 40 == 0 || i % 100 == 1 ? 1.6 : 1.0) * (2.0 + 0.05 * r.nextGaussian())));
  }

  @Test
  void aTaskSwitchDriftsOnceWithinSustainBatches() {
    Random r = new Random(10);
    int switchAt = 500;
    // task A learned down to 1.5; task B starts at 3.0 and is learned in turn
    List<Integer> at = events(1500, i -> i < switchAt ? 1.5 + 0.05 * r.nextGaussian()
        : 1.5 + 1.5 * Math.exp(-(i - switchAt) / 200.0) + 0.05 * r.nextGaussian());
    assertEquals(List.of(switchAt + C.sustain() - 1), at);
  }

  @Test
  void aJumpIsMeasuredAgainstTheBaselineBeforeIt() {
    // the first high batches do not lift the baseline: with them folded in at once, a second jump
    // batch would sit within the widened spread and the sustained jump would go unnoticed
    DriftDetector.State s = DriftDetector.State.EMPTY;
    for (int i = 0; i < 50; i++) {
      s = DriftDetector.observe(s, 1.5 + (i % 2 == 0 ? 0.02 : -0.02), C).state();
    }
    double before = s.mean();
    DriftDetector.Verdict first = DriftDetector.observe(s, 3.0, C);
    assertEquals(before, first.state().mean());
    DriftDetector.Verdict second = DriftDetector.observe(first.state(), 3.0, C);
    DriftDetector.Verdict third = DriftDetector.observe(second.state(), 3.0, C);
    assertTrue(third.drift());
    assertEquals(3.0, third.state().mean(), 1e-12, "the new level is the new baseline");
    assertEquals(before, third.baseline(), 1e-12);
  }

  @Test
  void aRestoredStateDecidesAlike() {
    Random r = new Random(11);
    double[] losses = new double[400];
    for (int i = 0; i < losses.length; i++) {
      losses[i] = (i < 250 ? 1.5 : 3.0) + 0.05 * r.nextGaussian();
    }
    DriftDetector.State s = DriftDetector.State.EMPTY;
    List<Boolean> straight = new ArrayList<>();
    for (double l : losses) {
      DriftDetector.Verdict v = DriftDetector.observe(s, l, C);
      straight.add(v.drift());
      s = v.state();
    }
    // stopped after every batch: the state copied out (as keyed state would be) and back
    DriftDetector.State t = DriftDetector.State.EMPTY;
    List<Boolean> restored = new ArrayList<>();
    for (double l : losses) {
      DriftDetector.Verdict v = DriftDetector.observe(t, l, C);
      restored.add(v.drift());
      t = new DriftDetector.State(v.state().mean(), v.state().variance(), v.state().batches(), v.state().pending().clone());
    }
    assertEquals(straight, restored);
    assertTrue(straight.contains(true));
  }

  @Test
  void settingsAreChecked() {
    assertThrows(IllegalArgumentException.class, () -> new DriftDetector.Settings(0, 3, 0.1, 3, 8));
    assertThrows(IllegalArgumentException.class, () -> new DriftDetector.Settings(0.1, 3, 0.1, 0, 8));
    // a non-finite loss changes nothing
    DriftDetector.State s = new DriftDetector.State(2.0, 0.01, 20, new double[0]);
    assertEquals(s, DriftDetector.observe(s, Double.NaN, C).state());
  }
}
