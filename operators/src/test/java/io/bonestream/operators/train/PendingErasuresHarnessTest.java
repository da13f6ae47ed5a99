package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.DecodeInstructions;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.Erasure;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bursts of erasure requests in the keyed operator harness (docs/continual.md, "Erasure"): each
 * version lists what fits its room, in order, the rest the next; a flood past the limit goes to the
 * dead-letter topic unapplied; the requests an earlier build kept in the progress are listed.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class PendingErasuresHarnessTest {
  @TempDir Path tmp;

  /** Four examples: one step, and one version (a version every step). */
  private static List<TrainingItem> batch(int k) {
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      out.add(TrainerHarness.example("e" + k + "-" + i, k * 4L + i));
    }
    return out;
  }

  private KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> harness() throws Exception {
    return TrainerHarness.of(TrainerHarness.trainer(TrainerHarness.BAT4, 4, 1, tmp));
  }

  @Test
  void aBurstIsListedOverSeveralVersionsInOrderEachWithinItsRoom() throws Exception {
    int requests = 400;
    String longId = "x".repeat(200);
    List<EncodedRecord> records;
    try (var h = harness()) {
      h.open();
      TrainerHarness.process(h, batch(0)); // version 1
      for (int n = 0; n < requests; n++) {
        TrainerHarness.process(h, List.of(TrainingItem.erasure("a", longId + n, null, false, "control", 0, n)));
      }
      for (int k = 1; k <= 4; k++) {
        TrainerHarness.process(h, batch(k));
      }
      records = h.extractOutputValues();
    }
    List<AdapterSnapshot> versions = TrainerHarness.manifests(records);
    assertEquals(5, versions.size());
    List<Long> listed = new ArrayList<>();
    for (int v = 1; v < versions.size(); v++) {
      List<Erasure> erasures = versions.get(v).getErasures();
      assertTrue(erasures.size() < requests, "version " + (v + 1) + " lists all " + requests + " requests");
      for (Erasure e : erasures) {
        assertEquals(longId + e.getOffset(), e.getExampleId());
        listed.add(e.getOffset());
      }
      // the room the requests take in the record, measured on the record itself
      AdapterSnapshot without = AdapterSnapshot.newBuilder(AdapterSnapshots.decode(records.get(v).value))
          .setErasures(List.of()).build();
      int room = records.get(v).value.length - AdapterSnapshots.encode(without).length;
      assertTrue(room <= PendingErasures.LISTED_BYTES, "version " + (v + 1) + ": " + room + " bytes of requests");
    }
    List<Long> expected = new ArrayList<>();
    for (long n = 0; n < requests; n++) {
      expected.add(n);
    }
    assertEquals(expected, listed, "every request listed once, in the order applied");
    assertTrue(versions.get(1).getErasures().size() > 100, "a version lists as many as fit");
  }

  @Test
  void aFloodPastTheLimitGoesToTheDeadLetterTopicUnappliedUntilVersionsListThem() throws Exception {
    int limit = PendingErasures.MAX_PENDING;
    List<DeadLetter> letters = new ArrayList<>();
    List<AdapterSnapshot> versions;
    try (var h = harness()) {
      h.open();
      TrainerHarness.process(h, batch(0)); // version 1
      for (int n = 0; n < limit; n++) {
        TrainerHarness.process(h, List.of(TrainingItem.erasure("a", "gone-" + n, null, false, "control", 0, n)));
      }
      TrainerHarness.process(h, batch(1).subList(0, 3)); // buffered, waiting for a fourth
      TrainingItem over = TrainingItem.erasure("a", "e1-0", null, false, "control", 0, limit);
      over.original = "{\"type\":\"erase\"}".getBytes(StandardCharsets.UTF_8);
      over.originalKey = "a".getBytes(StandardCharsets.UTF_8);
      TrainerHarness.process(h, List.of(over));
      TrainerHarness.process(h, batch(1).subList(3, 4)); // version 2, lists some of the waiting requests
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", "e2-0", null, false, "control", 0, limit + 1)));
      TrainerHarness.process(h, batch(2)); // version 3
      var side = h.getSideOutput(DecodeInstructions.DEAD_LETTERS);
      for (StreamRecord<EncodedRecord> r : side == null ? List.<StreamRecord<EncodedRecord>>of() : side) {
        letters.add(DeadLetter.getDecoder().decode(r.getValue().value));
      }
      versions = TrainerHarness.manifests(h.extractOutputValues());
    }
    assertEquals(1, letters.size(), "only the request past the limit (the one after version 2 was applied)");
    DeadLetter letter = letters.get(0);
    assertEquals("OVER_ERASURE_LIMIT", letter.getErrorCode());
    assertEquals(limit, letter.getOffset());
    byte[] original = new byte[letter.getOriginal().remaining()];
    letter.getOriginal().duplicate().get(original);
    assertArrayEquals("{\"type\":\"erase\"}".getBytes(StandardCharsets.UTF_8), original);
    assertTrue(letter.getErrorMessage().contains("not applied"), letter.getErrorMessage());
    assertEquals(3, versions.size());
    AdapterSnapshot second = versions.get(1);
    assertEquals(8, second.getStats().getExamples(), "e1-0 stayed in the buffer and was trained on: not applied");
    assertTrue(second.getErasures().stream().noneMatch(e -> e.getOffset() >= limit), "the refused one is not listed");
    assertEquals(second.getErasures().get(second.getErasures().size() - 1).getOffset() + 1,
        versions.get(2).getErasures().get(0).getOffset(), "the next version goes on where the last stopped");
  }

  @Test
  void theRequestsAnEarlierBuildKeptInTheProgressAreListedByTheNextVersion() throws Exception {
    List<AdapterSnapshot> versions;
    try (var h = harness()) {
      h.open();
      TrainerHarness.process(h, batch(0)); // version 1
      h.getOperator().setCurrentKey("a");
      ValueState<byte[]> progress = h.getOperator().getPartitionedState(VoidNamespace.INSTANCE,
          VoidNamespaceSerializer.INSTANCE, AdapterTrainer.progressDescriptor());
      progress.update(asFormatFour(progress.value(), "ex-1", "ex-2"));
      TrainerHarness.process(h, List.of(TrainingItem.erasure("a", "ex-3", null, false, "control", 0, 3)));
      TrainerHarness.process(h, batch(1)); // version 2
      TrainerHarness.process(h, batch(2)); // version 3
      versions = TrainerHarness.manifests(h.extractOutputValues());
    }
    assertEquals(3, versions.size());
    assertEquals(List.of("ex-1", "ex-2", "ex-3"),
        versions.get(1).getErasures().stream().map(Erasure::getExampleId).toList());
    assertTrue(versions.get(2).getErasures().isEmpty(), "listed once");
  }

  /**
   * The progress as format 4 wrote it: format 5's layout without its last two fields (the numbers of
   * requests waiting and of signed requests remembered), then format 4's number of requests and the
   * requests themselves.
   */
  private static byte[] asFormatFour(byte[] formatFive, String... exampleIds) throws Exception {
    assertEquals(5, formatFive[0]);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write(formatFive, 0, formatFive.length - 8);
    byte[] head = bytes.toByteArray();
    head[0] = 4;
    bytes.reset();
    bytes.write(head);
    DataOutputStream out = new DataOutputStream(bytes);
    out.writeInt(exampleIds.length);
    for (int k = 0; k < exampleIds.length; k++) {
      out.writeUTF(exampleIds[k]);
      out.writeUTF("");
      out.writeUTF("control");
      out.writeInt(0);
      out.writeLong(k + 1);
      out.writeInt(0);
      out.writeInt(0);
      out.writeInt(0);
      out.writeBoolean(false);
      out.writeLong(0);
    }
    return bytes.toByteArray();
  }
}
