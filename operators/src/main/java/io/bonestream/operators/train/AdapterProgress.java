package io.bonestream.operators.train;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * An adapter's stream bookkeeping beside its training state, kept in Flink state: the version
 * counter, the loss statistics, what is buffered, and the lineage of the version being built (per
 * topic partition: first and last offset and the number of records trained since the last
 * version). Encoded with {@link #encode()} / {@link #decode(byte[])}.
 */
final class AdapterProgress {
  /**
   * 5 keeps only the number of erasures waiting to be listed (the requests moved to their own state,
   * {@link PendingErasures}) and the number of signed requests remembered ({@link SignedRequestsSeen}); 4 added the continual-learning bookkeeping (drift signal, pin, anchor,
   * replay, erasures); 3 the eval gate's; 2 the step, the base fingerprint and the pending resumption;
   * 1 to 4 are still read.
   * (Some format-2 states carry the eval fields too: a version wrote them before the number moved;
   * they are read when present.)
   */
  private static final int FORMAT = 5;
  static final double EMA_DECAY = 0.9;

  long version;
  double lastLoss = Double.NaN;
  double lossEma = Double.NaN;
  long stepsSinceSnapshot;
  long lastSnapshotEventTime = Long.MIN_VALUE;
  long lastTrainedEventTime = Long.MIN_VALUE;
  int bufferedCount;
  long bufferedTokens;
  long oldestBufferedEventTime = Long.MIN_VALUE;
  /** "topic partition" → {first offset, last offset, records}; sorted, so versions list it in order. */
  final TreeMap<String, long[]> lineage = new TreeMap<>();
  /** The trainer's step after its last step; -1 when unknown (state written by format 1). */
  long step = -1;
  /** The base model the adapter trains on; null when unknown (format 1). */
  @Nullable String baseFingerprint;
  /**
   * Set when the adapter continued from somewhere other than its own state (see the manifest's
   * {@code resumed_from}); told by the next version, then cleared. 0 = nothing to tell.
   */
  long resumedFromVersion;
  @Nullable String resumedReason;
  boolean resumedFreshOptimizer;
  /** Records in the eval set (held out, never trained on). */
  int evalCount;
  /** The best eval loss among published versions measured on the complete eval set; NaN: none yet. */
  double bestEvalLoss = Double.NaN;
  /** Snapshots the eval gate held back. */
  long gatedSnapshots;
  /** The drift signal's running state ({@link DriftDetector}). */
  DriftDetector.State drift = DriftDetector.State.EMPTY;
  long driftEvents;
  /** The latest drift event since the last version, told by the next one; null: none. */
  @Nullable DriftNote pendingDrift;
  /** After a drift with the PIN policy: nothing is published until the new eval set is full. */
  boolean pinned;
  /** Snapshots that came due (published or not), and the one and the tokens trained at the last anchor scoring (-1: none). */
  long dueSnapshots;
  long anchorScoredAtDue = -1;
  long anchorScoredAtTokens = -1;
  long replayedExamples;
  /** Erasure requests applied and not yet listed by a version ({@link PendingErasures} holds them). */
  int erasuresPending;
  /** Signed control requests remembered ({@link SignedRequestsSeen}). */
  int signedRequests;
  /**
   * The requests a format-4 state kept here, read but not written again: the trainer moves them to
   * {@link PendingErasures} when it reads the state.
   */
  final List<PendingErasures.Note> legacyErasures = new ArrayList<>();

  /** A drift event as the next manifest tells it. */
  record DriftNote(long step, double loss, double baseline, String action) {}

  void recordLoss(double loss) {
    lastLoss = loss;
    lossEma = Double.isNaN(lossEma) ? loss : EMA_DECAY * lossEma + (1 - EMA_DECAY) * loss;
  }

  void addToLineage(String topic, int partition, long offset) {
    long[] r = lineage.computeIfAbsent(topic + " " + partition, k -> new long[] {offset, offset, 0});
    r[0] = Math.min(r[0], offset);
    r[1] = Math.max(r[1], offset);
    r[2]++;
  }

  /** A snapshot was held back: no version is used, and the next try comes after as many steps again. */
  void heldBack() {
    stepsSinceSnapshot = 0;
    lastSnapshotEventTime = lastTrainedEventTime;
  }

  /**
   * A version was published: its lineage and resumption are told, the next version starts afresh
   * (erasures not listed wait for the next one: {@link PendingErasures}).
   */
  void published() {
    stepsSinceSnapshot = 0;
    lineage.clear();
    resumedFromVersion = 0;
    resumedReason = null;
    resumedFreshOptimizer = false;
    lastSnapshotEventTime = lastTrainedEventTime;
    pendingDrift = null;
  }

  void clearBuffer() {
    bufferedCount = 0;
    bufferedTokens = 0;
    oldestBufferedEventTime = Long.MIN_VALUE;
  }

  byte[] encode() {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeByte(FORMAT);
      out.writeLong(version);
      out.writeDouble(lastLoss);
      out.writeDouble(lossEma);
      out.writeLong(stepsSinceSnapshot);
      out.writeLong(lastSnapshotEventTime);
      out.writeLong(lastTrainedEventTime);
      out.writeInt(bufferedCount);
      out.writeLong(bufferedTokens);
      out.writeLong(oldestBufferedEventTime);
      out.writeInt(lineage.size());
      for (Map.Entry<String, long[]> e : lineage.entrySet()) {
        out.writeUTF(e.getKey());
        for (long v : e.getValue()) {
          out.writeLong(v);
        }
      }
      out.writeLong(step);
      out.writeUTF(baseFingerprint == null ? "" : baseFingerprint);
      out.writeLong(resumedFromVersion);
      out.writeUTF(resumedReason == null ? "" : resumedReason);
      out.writeBoolean(resumedFreshOptimizer);
      out.writeInt(evalCount);
      out.writeDouble(bestEvalLoss);
      out.writeLong(gatedSnapshots);
      out.writeDouble(drift.mean());
      out.writeDouble(drift.variance());
      out.writeLong(drift.batches());
      out.writeInt(drift.pending().length);
      for (double d : drift.pending()) {
        out.writeDouble(d);
      }
      out.writeLong(driftEvents);
      out.writeBoolean(pendingDrift != null);
      if (pendingDrift != null) {
        out.writeLong(pendingDrift.step());
        out.writeDouble(pendingDrift.loss());
        out.writeDouble(pendingDrift.baseline());
        out.writeUTF(pendingDrift.action());
      }
      out.writeBoolean(pinned);
      out.writeLong(dueSnapshots);
      out.writeLong(anchorScoredAtDue);
      out.writeLong(anchorScoredAtTokens);
      out.writeLong(replayedExamples);
      out.writeInt(erasuresPending);
      out.writeInt(signedRequests);
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static AdapterProgress decode(byte[] data) {
    AdapterProgress p = new AdapterProgress();
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
      int format = in.readByte();
      if (format < 1 || format > FORMAT) {
        throw new IllegalStateException("adapter progress format " + format + " is not supported");
      }
      p.version = in.readLong();
      p.lastLoss = in.readDouble();
      p.lossEma = in.readDouble();
      p.stepsSinceSnapshot = in.readLong();
      p.lastSnapshotEventTime = in.readLong();
      p.lastTrainedEventTime = in.readLong();
      p.bufferedCount = in.readInt();
      p.bufferedTokens = in.readLong();
      p.oldestBufferedEventTime = in.readLong();
      int n = in.readInt();
      for (int i = 0; i < n; i++) {
        p.lineage.put(in.readUTF(), new long[] {in.readLong(), in.readLong(), in.readLong()});
      }
      if (format >= 2) {
        p.step = in.readLong();
        String fp = in.readUTF();
        p.baseFingerprint = fp.isEmpty() ? null : fp;
        p.resumedFromVersion = in.readLong();
        String reason = in.readUTF();
        p.resumedReason = reason.isEmpty() ? null : reason;
        p.resumedFreshOptimizer = in.readBoolean();
      }
      if (format >= 3 || (format == 2 && in.available() > 0)) {
        p.evalCount = in.readInt();
        p.bestEvalLoss = in.readDouble();
        p.gatedSnapshots = in.readLong();
      }
      if (format >= 4) {
        double mean = in.readDouble();
        double variance = in.readDouble();
        long batches = in.readLong();
        double[] pending = new double[in.readInt()];
        for (int i = 0; i < pending.length; i++) {
          pending[i] = in.readDouble();
        }
        p.drift = new DriftDetector.State(mean, variance, batches, pending);
        p.driftEvents = in.readLong();
        if (in.readBoolean()) {
          p.pendingDrift = new DriftNote(in.readLong(), in.readDouble(), in.readDouble(), in.readUTF());
        }
        p.pinned = in.readBoolean();
        p.dueSnapshots = in.readLong();
        p.anchorScoredAtDue = in.readLong();
        p.anchorScoredAtTokens = in.readLong();
        p.replayedExamples = in.readLong();
        int erasures = in.readInt();
        if (format >= 5) {
          p.erasuresPending = erasures;
          p.signedRequests = in.readInt();
        } else { // format 4 kept the requests themselves
          for (int i = 0; i < erasures; i++) {
            p.legacyErasures.add(PendingErasures.read(in));
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return p;
  }
}
