package io.bonestream.operators.train;

import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One optimizer step as the training operator takes it with the continual-learning guards: the
 * fresh examples and, with a reservoir, the replays drawn for this step, in micro-batches of their
 * own (the fresh ones first); and the fresh batch's loss before the step for the drift signal, from
 * the step's own forward pass over the fresh micro-batches. The caller offers the fresh examples to
 * the reservoir afterwards, so that a replay is always of an earlier step. {@code ContinualBench}
 * times exactly this.
 */
final class GuardedStep {
  /** The step, the replays it mixed in, and the fresh batch's loss before it (NaN: none). */
  record Outcome(StepResult result, List<ReplayReservoir.Entry> replays, double freshLoss) {
    int replayed() {
      return replays.size();
    }

    /** The replays' tokens (the step's tokens beyond the fresh examples'). */
    long replayTokens() {
      long tokens = 0;
      for (ReplayReservoir.Entry e : replays) {
        tokens += e.inputIds().length;
      }
      return tokens;
    }
  }

  private GuardedStep() {}

  static Outcome take(Trainer trainer, List<Example> fresh, @Nullable ReplayReservoir reservoir,
      ContinualPolicy.Replay policy, boolean measureFresh) {
    int size = trainer.config().batchSize();
    List<List<Example>> micro = new ArrayList<>(TrainingSession.microBatches(fresh, size));
    int freshBatches = micro.size();
    List<ReplayReservoir.Entry> replayed = new ArrayList<>();
    if (reservoir != null) {
      List<Example> replays = new ArrayList<>();
      for (ReplayReservoir.Entry e : reservoir.replays(policy.replaysFor(fresh.size()), trainer.step())) {
        replays.add(new Example(e.inputIds(), e.labels(), e.weight()));
        replayed.add(e);
      }
      micro.addAll(TrainingSession.microBatches(replays, size));
    }
    TrainingSession.Measured m = trainer.stepMeasuring(micro, measureFresh ? freshBatches : 0);
    StepResult r = m.result();
    double freshLoss = measureFresh && !r.skipped() ? m.firstLoss() : Double.NaN;
    return new Outcome(r, replayed, freshLoss);
  }
}
