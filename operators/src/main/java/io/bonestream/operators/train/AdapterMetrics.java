package io.bonestream.operators.train;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/**
 * One adapter's metrics, in the metric group {@code adapter=<id>} of the training operator:
 * visible in the Flink web UI and through Flink's Prometheus reporter.
 */
final class AdapterMetrics {
  final Counter examples;
  final Counter tokens;
  final Counter steps;
  final Counter skippedSteps;
  final Counter snapshots;
  /** Times the adapter continued from a published version instead of its own state. */
  final Counter resumptions;
  /** Blob folders of never-published versions removed on start. */
  final Counter orphanBlobsRemoved;
  /** Records turned away because the adapter was over its share of the subtask. */
  final Counter overShare;
  /** Snapshots the eval gate held back. */
  final Counter gatedSnapshots;
  /** Snapshots not published because the adapter's tensors were not finite. */
  final Counter nonFiniteSnapshots;
  /** Snapshots the anchor guard held back (their anchor loss too far above the base model's). */
  final Counter anchorGatedSnapshots;
  /** Snapshots held back while the gate pins the last version before a drift. */
  final Counter pinnedSnapshots;
  /** Drift events: the stream's loss jumped and stayed up (docs/continual.md). */
  final Counter driftEvents;
  /** Replayed examples mixed into steps (not counted against the adapter's share). */
  final Counter replayedExamples;
  /** Erasure requests applied, and the kept examples they removed. */
  final Counter erasures;
  final Counter erasedExamples;
  /** Erasure requests not applied: the adapter had {@link PendingErasures#MAX_PENDING} waiting to be listed. */
  final Counter overErasureLimit;
  /** Erasure requests applied that no version has listed yet. */
  volatile long erasuresPending;
  volatile double anchorLoss = Double.NaN;
  volatile double baseAnchorLoss = Double.NaN;
  /** The loss average the drift signal compares each batch against. */
  volatile double driftBaseline = Double.NaN;
  volatile long replayExamples;
  volatile long replayBytes;
  volatile double evalLoss = Double.NaN;
  volatile double bestEvalLoss = Double.NaN;
  volatile long evalExamples;
  final Histogram stepMillis;
  volatile double lastLoss = Double.NaN;
  volatile double lossEma = Double.NaN;
  volatile double tokensPerSecond;
  volatile long version;
  volatile long snapshotBytes;
  volatile long stateBytes;
  volatile long buffered;
  /** Device bytes of this adapter (values, gradients, moments) on a GPU backend; 0 on the CPU. */
  volatile long deviceBytes;

  AdapterMetrics(MetricGroup operator, String adapterId) {
    MetricGroup g = operator.addGroup("adapter", adapterId);
    examples = g.counter("examples");
    tokens = g.counter("tokens");
    steps = g.counter("steps");
    skippedSteps = g.counter("skipped_steps");
    snapshots = g.counter("snapshots");
    resumptions = g.counter("resumptions");
    orphanBlobsRemoved = g.counter("orphan_blobs_removed");
    gatedSnapshots = g.counter("gated_snapshots");
    overShare = g.counter("over_share_records");
    nonFiniteSnapshots = g.counter("non_finite_snapshots");
    anchorGatedSnapshots = g.counter("anchor_gated_snapshots");
    pinnedSnapshots = g.counter("pinned_snapshots");
    driftEvents = g.counter("drift_events");
    replayedExamples = g.counter("replayed_examples");
    erasures = g.counter("erasures");
    erasedExamples = g.counter("erased_examples");
    overErasureLimit = g.counter("over_erasure_limit_requests");
    g.gauge("anchor_loss", (Gauge<Double>) () -> anchorLoss);
    g.gauge("base_anchor_loss", (Gauge<Double>) () -> baseAnchorLoss);
    g.gauge("drift_baseline_loss", (Gauge<Double>) () -> driftBaseline);
    g.gauge("erasures_pending", (Gauge<Long>) () -> erasuresPending);
    g.gauge("replay_examples", (Gauge<Long>) () -> replayExamples);
    g.gauge("replay_bytes", (Gauge<Long>) () -> replayBytes);
    g.gauge("eval_loss", (Gauge<Double>) () -> evalLoss);
    g.gauge("best_eval_loss", (Gauge<Double>) () -> bestEvalLoss);
    g.gauge("eval_examples", (Gauge<Long>) () -> evalExamples);
    stepMillis = g.histogram("step_time_ms", new DescriptiveStatisticsHistogram(500));
    g.gauge("loss_last", (Gauge<Double>) () -> lastLoss);
    g.gauge("loss_ema", (Gauge<Double>) () -> lossEma);
    g.gauge("tokens_per_second", (Gauge<Double>) () -> tokensPerSecond);
    g.gauge("snapshot_version", (Gauge<Long>) () -> version);
    g.gauge("snapshot_bytes", (Gauge<Long>) () -> snapshotBytes);
    g.gauge("state_bytes", (Gauge<Long>) () -> stateBytes);
    g.gauge("buffered_examples", (Gauge<Long>) () -> buffered);
    g.gauge("gpu_bytes", (Gauge<Long>) () -> deviceBytes);
  }
}
