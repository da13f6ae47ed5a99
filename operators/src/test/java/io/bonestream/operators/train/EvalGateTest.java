package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.train.EvalGate.Decision;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The eval gate's decision from an adapter's progress and a snapshot's eval loss. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class EvalGateTest {
  /** 8 held-out records, a quarter worse than the best allowed. */
  private static final EvalGate GATE = new EvalGate(new EvalPolicy(0.25, 8, 0.25, true));

  private static AdapterProgress progress(int evalCount, double best) {
    AdapterProgress p = new AdapterProgress();
    p.evalCount = evalCount;
    p.bestEvalLoss = best;
    return p;
  }

  @Test
  void aSnapshotWorseThanTheBestByMoreThanTheToleranceIsHeldBack() {
    AdapterProgress p = progress(8, 2.0);
    assertEquals(Decision.HOLD_GATED, GATE.decide(p, 2.51, true));
    assertEquals(Decision.HOLD_GATED, GATE.decide(p, 40, true));
    assertEquals(Decision.HOLD_GATED, GATE.decide(p, Double.NaN, true), "a NaN eval loss judges nothing good");
    assertEquals(Decision.PUBLISH, GATE.decide(p, 2.49, true), "worse, within the tolerance");
    assertEquals(Decision.PUBLISH, GATE.decide(p, 2.5, true), "at the bar: 2.0 × 1.25");
    assertEquals(Decision.PUBLISH, GATE.decide(p, 1.0, true));
  }

  @Test
  void anAdapterThatIsNotFiniteIsNeverPublished() {
    assertEquals(Decision.HOLD_NOT_FINITE, GATE.decide(progress(8, 2.0), 1.0, false));
    assertEquals(Decision.HOLD_NOT_FINITE, GATE.decide(progress(0, Double.NaN), Double.NaN, false));
    assertEquals(Decision.HOLD_NOT_FINITE,
        new EvalGate(EvalPolicy.OFF).decide(progress(0, Double.NaN), Double.NaN, false));
  }

  @Test
  void anIncompleteEvalSetNeitherJudgesNorSetsTheBest() {
    AdapterProgress p = progress(7, 2.0);
    assertFalse(GATE.evalComplete(p));
    assertEquals(Decision.PUBLISH, GATE.decide(p, 40, true));
    assertFalse(GATE.published(p, 1.0));
    assertEquals(2.0, p.bestEvalLoss);
  }

  @Test
  void theFirstCompleteEvaluationPublishesAndSetsTheBarThenOnlyALowerLossMovesIt() {
    AdapterProgress p = progress(8, Double.NaN);
    assertEquals(Decision.PUBLISH, GATE.decide(p, 3.0, true), "nothing to compare with yet");
    assertTrue(GATE.published(p, 3.0));
    assertEquals(3.0, p.bestEvalLoss);
    assertTrue(GATE.published(p, 3.5));
    assertEquals(3.0, p.bestEvalLoss, "a worse published loss leaves the bar");
    assertTrue(GATE.published(p, 2.0));
    assertEquals(2.0, p.bestEvalLoss);
    assertEquals(Decision.HOLD_GATED, GATE.decide(p, 2.6, true), "now judged against 2.0");
    assertFalse(GATE.published(p, Double.POSITIVE_INFINITY));
    assertFalse(GATE.published(p, Double.NaN));
    assertEquals(2.0, p.bestEvalLoss);
  }

  @Test
  void withTheGateOffOrEvaluationOffEverythingFinitePublishes() {
    EvalGate reportOnly = new EvalGate(new EvalPolicy(0.25, 8, 0.25, false));
    assertEquals(Decision.PUBLISH, reportOnly.decide(progress(8, 2.0), 40, true));
    EvalGate off = new EvalGate(EvalPolicy.OFF);
    assertFalse(off.evalComplete(progress(8, 2.0)));
    assertEquals(Decision.PUBLISH, off.decide(progress(8, 2.0), 40, true));
  }
}
