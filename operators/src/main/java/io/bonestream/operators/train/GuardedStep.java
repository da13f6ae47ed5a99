package io.bonestream.operators.train;

import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One optimizer step as the training operator takes it with the continual-learning guards: the
 * fresh examples and, with a reservoir, the replays drawn for this step; and the fresh batch's loss
 * before the step for the drift signal (the step's own loss, unless replays are mixed into it: then
 * one more forward pass over the fresh examples alone). The caller offers the fresh examples to the
 * reservoir afterwards, so that a replay is always of an earlier step. {@code ContinualBench} times
 * exactly this.
 */
final class GuardedStep {
  /** The step, the replays it mixed in (and their tokens), and the fresh batch's loss before it (NaN: none). */
  record Outcome(StepResult result, int replayed, long replayTokens, double freshLoss) {}

  private GuardedStep() {}

  static Outcome take(Trainer trainer, List<Example> fresh, @Nullable ReplayReservoir reservoir,
      ContinualPolicy.Replay policy, boolean measureFresh) {
    List<Example> examples = fresh;
    int replayed = 0;
    long replayTokens = 0;
    if (reservoir != null) {
      examples = new ArrayList<>(fresh);
      for (ReplayReservoir.Entry e : reservoir.replays(policy.replaysFor(fresh.size()), trainer.step())) {
        examples.add(new Example(e.inputIds(), e.labels(), e.weight()));
        replayTokens += e.inputIds().length;
        replayed++;
      }
    }
    double before = measureFresh && replayed > 0 ? trainer.evaluate(fresh) : Double.NaN;
    StepResult r = trainer.step(examples);
    double freshLoss = !measureFresh ? Double.NaN : replayed > 0 ? before : r.skipped() ? Double.NaN : r.loss();
    return new Outcome(r, replayed, replayTokens, freshLoss);
  }
}
