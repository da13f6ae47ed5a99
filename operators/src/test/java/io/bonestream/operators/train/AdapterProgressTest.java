package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import org.junit.jupiter.api.Test;

/** The adapter's bookkeeping in Flink state: round trip, and state written by the previous release. */
class AdapterProgressTest {
  @Test
  void roundTripsEveryField() {
    AdapterProgress p = new AdapterProgress();
    p.version = 7;
    p.recordLoss(2.5);
    p.stepsSinceSnapshot = 1;
    p.bufferedCount = 3;
    p.bufferedTokens = 99;
    p.addToLineage("t", 1, 40);
    p.addToLineage("t", 1, 44);
    p.step = 14;
    p.baseFingerprint = "ab".repeat(32);
    p.resumedFromVersion = 6;
    p.resumedReason = "NO_STATE";
    p.resumedFreshOptimizer = true;
    AdapterProgress q = AdapterProgress.decode(p.encode());
    assertEquals(7, q.version);
    assertEquals(2.5, q.lastLoss);
    assertEquals(3, q.bufferedCount);
    assertEquals(99, q.bufferedTokens);
    assertEquals(40, q.lineage.get("t 1")[0]);
    assertEquals(44, q.lineage.get("t 1")[1]);
    assertEquals(2, q.lineage.get("t 1")[2]);
    assertEquals(14, q.step);
    assertEquals("ab".repeat(32), q.baseFingerprint);
    assertEquals(6, q.resumedFromVersion);
    assertEquals("NO_STATE", q.resumedReason);
    assertEquals(true, q.resumedFreshOptimizer);
  }

  @Test
  void roundTripsTheContinualLearningFields() {
    AdapterProgress p = new AdapterProgress();
    p.drift = new DriftDetector.State(1.25, 0.5, 9, new double[] {2.0, 2.5});
    p.driftEvents = 2;
    p.pendingDrift = new AdapterProgress.DriftNote(30, 3.5, 1.25, "PIN");
    p.pinned = true;
    p.dueSnapshots = 5;
    p.anchorScoredAtDue = 3;
    p.anchorScoredAtTokens = 700;
    p.replayedExamples = 12;
    p.erasuresPending = 3;
    p.signedRequests = 11;
    AdapterProgress q = AdapterProgress.decode(p.encode());
    assertEquals(1.25, q.drift.mean());
    assertEquals(0.5, q.drift.variance());
    assertEquals(9, q.drift.batches());
    assertEquals(java.util.List.of(2.0, 2.5), java.util.Arrays.stream(q.drift.pending()).boxed().toList());
    assertEquals(2, q.driftEvents);
    assertEquals(p.pendingDrift, q.pendingDrift);
    assertTrue(q.pinned);
    assertEquals(5, q.dueSnapshots);
    assertEquals(3, q.anchorScoredAtDue);
    assertEquals(700, q.anchorScoredAtTokens);
    assertEquals(12, q.replayedExamples);
    assertEquals(3, q.erasuresPending);
    assertEquals(11, q.signedRequests);
    assertTrue(q.legacyErasures.isEmpty());
    q.published();
    assertNull(q.pendingDrift);
    assertEquals(3, q.erasuresPending, "requests a version did not list wait for the next one");
  }

  @Test
  void readsTheErasureRequestsFormatFourKeptInTheProgress() throws Exception {
    // format 4 as the previous release wrote it, field by field, with two requests at its end
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    writeFormatTwoFields(out, 4, 3);
    out.writeInt(0); // eval examples
    out.writeDouble(Double.NaN);
    out.writeLong(0); // gated
    out.writeDouble(0); // drift mean, variance, batches, no pending losses
    out.writeDouble(0);
    out.writeLong(0);
    out.writeInt(0);
    out.writeLong(0); // drift events
    out.writeBoolean(false); // no drift note
    out.writeBoolean(false); // not pinned
    out.writeLong(2); // due snapshots
    out.writeLong(-1);
    out.writeLong(-1);
    out.writeLong(5); // replayed examples
    out.writeInt(2); // two erasure requests
    for (String id : new String[] {"ex-1", "ex-2"}) {
      out.writeUTF(id);
      out.writeUTF("");
      out.writeUTF("control");
      out.writeInt(0);
      out.writeLong(id.equals("ex-1") ? 7 : 8);
      out.writeInt(1);
      out.writeInt(0);
      out.writeInt(0);
      out.writeBoolean(id.equals("ex-2"));
      out.writeLong(id.equals("ex-2") ? 3 : 0);
    }
    AdapterProgress p = AdapterProgress.decode(bytes.toByteArray());
    assertEquals(3, p.version);
    assertEquals(5, p.replayedExamples);
    assertEquals(0, p.erasuresPending, "counted once the trainer moves them to their own state");
    assertEquals(java.util.List.of(new PendingErasures.Note("ex-1", "", "control", 0, 7, 1, 0, 0, false, 0),
        new PendingErasures.Note("ex-2", "", "control", 0, 8, 1, 0, 0, true, 3)), p.legacyErasures);
    AdapterProgress q = AdapterProgress.decode(p.encode());
    assertTrue(q.legacyErasures.isEmpty(), "written again without them");
  }

  @Test
  void readsFormatThreeWithoutTheContinualLearningFields() {
    AdapterProgress p = new AdapterProgress();
    p.version = 4;
    p.evalCount = 8;
    p.bestEvalLoss = 1.5;
    p.gatedSnapshots = 2;
    byte[] five = p.encode();
    // format 3 is format 5 cut before the drift state, with its own number
    int cut = five.length - (8 + 8 + 8 + 4 + 8 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 4);
    byte[] three = java.util.Arrays.copyOf(five, cut);
    three[0] = 3;
    AdapterProgress q = AdapterProgress.decode(three);
    assertEquals(4, q.version);
    assertEquals(8, q.evalCount);
    assertEquals(2, q.gatedSnapshots);
    assertEquals(0, q.drift.batches());
    assertEquals(0, q.driftEvents);
    assertNull(q.pendingDrift);
  }

  @Test
  void readsFormatTwoWithoutTheEvalGateFields() throws Exception {
    // the layout of format 2 before the eval gate, written out field by field
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    writeFormatTwoFields(out, 2, 7);
    AdapterProgress p = AdapterProgress.decode(bytes.toByteArray());
    assertEquals(7, p.version);
    assertEquals(14, p.step);
    assertEquals("abc", p.baseFingerprint);
    assertEquals(0, p.evalCount);
    assertTrue(Double.isNaN(p.bestEvalLoss));
  }

  @Test
  void readsFormatOneAsTheFirstReleaseWroteIt() throws Exception {
    // the layout of format 1, written out field by field
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    out.writeByte(1);
    out.writeLong(32); // version
    out.writeDouble(1.25); // last loss
    out.writeDouble(1.5); // loss EMA
    out.writeLong(0); // steps since snapshot
    out.writeLong(Long.MIN_VALUE);
    out.writeLong(Long.MIN_VALUE);
    out.writeInt(2); // buffered
    out.writeLong(50);
    out.writeLong(Long.MIN_VALUE);
    out.writeInt(1);
    out.writeUTF("instructions 0");
    out.writeLong(10);
    out.writeLong(20);
    out.writeLong(8);
    AdapterProgress p = AdapterProgress.decode(bytes.toByteArray());
    assertEquals(32, p.version);
    assertEquals(1.5, p.lossEma);
    assertEquals(2, p.bufferedCount);
    assertEquals(8, p.lineage.get("instructions 0")[2]);
    assertEquals(-1, p.step);
    assertNull(p.baseFingerprint);
    assertEquals(0, p.resumedFromVersion);
  }

  /**
   * The fields formats 2 and later begin with, as format 2 wrote them: {@code version}, losses 1.25
   * and 1.5, one step since the snapshot, nothing buffered, no lineage, step 14, base "abc", no
   * resumption.
   */
  private static void writeFormatTwoFields(DataOutputStream out, int format, long version) throws Exception {
    out.writeByte(format);
    out.writeLong(version);
    out.writeDouble(1.25); // last loss
    out.writeDouble(1.5); // loss EMA
    out.writeLong(1); // steps since snapshot
    out.writeLong(Long.MIN_VALUE);
    out.writeLong(Long.MIN_VALUE);
    out.writeInt(0); // buffered
    out.writeLong(0);
    out.writeLong(Long.MIN_VALUE);
    out.writeInt(0); // no lineage
    out.writeLong(14); // step
    out.writeUTF("abc"); // base fingerprint
    out.writeLong(0); // resumed from
    out.writeUTF("");
    out.writeBoolean(false);
  }
}
