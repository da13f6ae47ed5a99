package io.bonestream.operators.train;

import io.bonestream.engine.backend.TrainingStateCodec;
import org.jspecify.annotations.Nullable;

/**
 * What a checkpoint or savepoint holds for one adapter, as {@code bonestream run} reports it before
 * restoring: its last published version, its optimizer step, the base model it trains on, and how
 * many examples wait in its buffer.
 *
 * @param step the trainer's step, -1 if the adapter never stepped
 * @param baseFingerprint null if the adapter never stepped
 */
public record AdapterStateSummary(String adapterId, long version, long step, @Nullable String baseFingerprint,
    int bufferedExamples) {

  /** From the two keyed states of {@link AdapterTrainer}; either may be absent. */
  public static AdapterStateSummary of(String adapterId, byte @Nullable [] progress, byte @Nullable [] trainingState) {
    AdapterProgress p = progress == null ? new AdapterProgress() : AdapterProgress.decode(progress);
    long step = p.step;
    String fingerprint = p.baseFingerprint;
    if (trainingState != null && (fingerprint == null || step < 0)) {
      // state written before the progress carried these (format 1): read them from the training state
      var s = TrainingStateCodec.decode(trainingState);
      step = s.step();
      fingerprint = s.baseFingerprint();
    }
    return new AdapterStateSummary(adapterId, p.version, trainingState == null ? -1 : step, fingerprint,
        p.bufferedCount);
  }
}
