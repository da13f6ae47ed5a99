package io.bonestream.operators.train;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.train.Trainer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.DriftEvent;
import io.bonestream.schemas.Erasure;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import io.bonestream.schemas.ResumedFrom;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** The records a snapshot of an adapter becomes: its manifest when published, else the gate's report. */
final class SnapshotManifests {
  private SnapshotManifests() {}

  static TrainingStats stats(Trainer trainer, AdapterProgress p, double evalLoss) {
    return stats(trainer, p, evalLoss, Double.NaN, Double.NaN);
  }

  /** The statistics of a snapshot; an anchor loss of NaN: not scored for it. */
  static TrainingStats stats(Trainer trainer, AdapterProgress p, double evalLoss, double anchorLoss,
      double baseAnchorLoss) {
    return TrainingStats.newBuilder().setStep(trainer.step()).setTokens(trainer.tokensSeen())
        .setExamples(trainer.examplesSeen()).setSkippedSteps(trainer.skippedSteps())
        .setLastLoss(p.lastLoss).setLossEma(p.lossEma).setEvalLoss(Double.isNaN(evalLoss) ? null : evalLoss)
        .setAnchorLoss(Double.isNaN(anchorLoss) ? null : anchorLoss)
        .setBaseAnchorLoss(Double.isNaN(anchorLoss) ? null : baseAnchorLoss)
        .setReplayedExamples(p.replayedExamples).setDriftEvents(p.driftEvents).build();
  }

  /** LoRA adapters export as PEFT LoRA, the others as MiSS. */
  static PeftFormat format(AdapterMethod method) {
    return method == AdapterMethod.LORA ? PeftFormat.LORA : PeftFormat.MISS;
  }

  static InlineAdapter inline(PeftExport.AdapterFiles files) {
    return InlineAdapter.newBuilder().setAdapterConfigJson(files.configJson())
        .setAdapterModelSafetensors(ByteBuffer.wrap(files.weights())).build();
  }

  /**
   * The manifest of version {@code p.version}: {@code payload} is its {@link InlineAdapter} or the
   * claim check of its blob; the lineage and any resumption are the progress's; {@code erasures} the
   * applied erasure requests it lists.
   */
  static AdapterSnapshot published(String id, AdapterProgress p, Trainer trainer, SharedModels.Loaded shared,
      Object payload, TrainingStats stats, List<PendingErasures.Note> erasures) {
    AdapterMethod method = trainer.adapters().config().method();
    return AdapterSnapshot.newBuilder()
        .setAdapterId(id)
        .setVersion(p.version)
        .setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName(shared.model().name())
            .setWeightsSha256(shared.model().fingerprint()).build())
        .setTokenizerSha256(shared.tokenizer().sha256())
        .setMethod(method.id())
        .setPeftType(format(method) == PeftFormat.LORA ? "LORA" : "MISS")
        .setR(trainer.adapters().config().r())
        .setTargetModules(trainer.adapters().config().targetModuleNames())
        .setStats(stats)
        .setLineage(lineage(p))
        .setPayload(payload)
        .setResumedFrom(p.resumedFromVersion <= 0 ? null : ResumedFrom.newBuilder()
            .setVersion(p.resumedFromVersion).setReason(p.resumedReason)
            .setFreshOptimizer(p.resumedFreshOptimizer).build())
        .setDrift(p.pendingDrift == null ? null : DriftEvent.newBuilder().setStep(p.pendingDrift.step())
            .setLoss(p.pendingDrift.loss()).setBaseline(p.pendingDrift.baseline())
            .setAction(p.pendingDrift.action()).build())
        .setErasures(erasures(erasures))
        .build();
  }

  /**
   * What the gated topic is told of a snapshot held back by the eval gate, the anchor guard or a
   * drift pin ({@code reason}: {@link EvalGate.Decision#reason()}); {@code tolerance} is the eval
   * gate's, or the anchor guard's for ANCHOR_LOSS.
   */
  static GatedSnapshot gated(String id, AdapterProgress p, TrainingStats stats, double tolerance, String reason) {
    return GatedSnapshot.newBuilder()
        .setAdapterId(id).setAfterVersion(p.version).setCreatedAt(Instant.now())
        .setStats(stats).setBestEvalLoss(p.bestEvalLoss)
        .setTolerance(tolerance).setEvalExamples(p.evalCount).setReason(reason).build();
  }

  static List<Erasure> erasures(List<PendingErasures.Note> notes) {
    List<Erasure> out = new ArrayList<>();
    for (PendingErasures.Note e : notes) {
      out.add(Erasure.newBuilder().setExampleId(e.exampleId().isEmpty() ? null : e.exampleId())
          .setUserId(e.userId().isEmpty() ? null : e.userId()).setTopic(e.topic()).setPartition(e.partition())
          .setOffset(e.offset()).setRemovedBuffered(e.removedBuffered()).setRemovedReplay(e.removedReplay())
          .setRemovedEval(e.removedEval()).setRetrained(e.retrained()).setDiscardedSteps(e.discardedSteps()).build());
    }
    return out;
  }

  /** The progress's lineage ("topic partition" → first, last, records) as the manifest lists it. */
  static List<OffsetRange> lineage(AdapterProgress p) {
    List<OffsetRange> lineage = new ArrayList<>();
    p.lineage.forEach((tp, r) -> {
      int split = tp.lastIndexOf(' ');
      lineage.add(OffsetRange.newBuilder().setTopic(tp.substring(0, split))
          .setPartition(Integer.parseInt(tp.substring(split + 1)))
          .setFirstOffset(r[0]).setLastOffset(r[1]).setRecords(r[2]).build());
    });
    return lineage;
  }
}
