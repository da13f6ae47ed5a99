package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.EveryAdapter;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.DecodeInstructions;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.Erasure;
import io.bonestream.schemas.OffsetRange;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A request to every adapter ({@code "adapter_id": "*"}, {@link EveryAdapter}) on two training subtasks
 * of max parallelism 128, as the job routes its copies, one per key group: every adapter either subtask
 * holds, two of them in one key group, forgets the user's buffered example and lists the request once in
 * its next version; key groups without adapters do nothing; copies made for another max parallelism are
 * refused, not applied.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class EveryAdapterHarnessTest {
  private static final int MAX_PARALLELISM = 128;
  private static final int[] TOKENS = {1, 72, 43, 287, 9, 300, 14, 2};

  @TempDir Path tmp;

  private static TrainingItem example(String adapter, String exampleId, String userId, long offset) {
    TrainingItem i = new TrainingItem(adapter, exampleId, TOKENS, TOKENS, 1f, Long.MIN_VALUE, "in", 0, offset);
    i.userId = userId;
    return i;
  }

  private static int subtask(String key) {
    return KeyGroupRangeAssignment.assignKeyToParallelOperator(key, MAX_PARALLELISM, 2);
  }

  @Test
  void everyAdapterOfEverySubtaskForgetsTheUserOnceAndListsTheRequest() throws Exception {
    // adapters on both subtasks, and two in one key group
    List<String> adapters = new ArrayList<>(List.of("colors", "sounds", "opposites"));
    Map<Integer, String> byGroup = new TreeMap<>();
    for (int n = 0; ; n++) {
      String id = "tenant-" + n;
      String other = byGroup.put(KeyGroupRangeAssignment.assignToKeyGroup(id, MAX_PARALLELISM), id);
      if (other != null) {
        adapters.addAll(List.of(other, id));
        break;
      }
    }
    assertTrue(adapters.stream().anyMatch(a -> subtask(a) == 0) && adapters.stream().anyMatch(a -> subtask(a) == 1),
        "adapters on both subtasks: " + adapters);

    TrainingItem request = TrainingItem.erasure(EveryAdapter.ID, null, "u-1", false, "control", 0, 99);
    request.original = "{\"type\":\"erase\",\"adapter_id\":\"*\",\"user_id\":\"u-1\"}".getBytes();
    Map<String, List<AdapterSnapshot>> versions = new LinkedHashMap<>();
    List<DeadLetter> letters = new ArrayList<>();
    for (int subtask = 0; subtask < 2; subtask++) {
      try (var h = harness(subtask)) {
        h.open();
        int index = subtask;
        List<String> mine = adapters.stream().filter(a -> subtask(a) == index).toList();
        long offset = 0;
        for (String a : mine) {
          for (int k = 0; k < 4; k++) { // version 1
            process(h, example(a, a + "-e" + k, "u-" + k, offset++));
          }
          process(h, example(a, a + "-mine", "u-1", offset++)); // buffered: the request removes it
          process(h, example(a, a + "-other", "u-2", offset++));
        }
        for (String key : EveryAdapter.keys(MAX_PARALLELISM)) { // the copies this subtask's channel carries
          if (subtask(key) == subtask) {
            process(h, request.forAdapter(key));
          }
        }
        for (String key : EveryAdapter.keys(64)) { // copies for another max parallelism
          if (subtask(key) == subtask) {
            process(h, request.forAdapter(key));
          }
        }
        for (String a : mine) {
          for (int k = 0; k < 3; k++) { // version 2: -other and these three
            process(h, example(a, a + "-f" + k, "u-3", offset++));
          }
        }
        for (AdapterSnapshot m : TrainerHarness.manifests(h.extractOutputValues())) {
          versions.computeIfAbsent(m.getAdapterId(), k -> new ArrayList<>()).add(m);
        }
        var side = h.getSideOutput(DecodeInstructions.DEAD_LETTERS);
        for (StreamRecord<EncodedRecord> r : side == null ? List.<StreamRecord<EncodedRecord>>of() : side) {
          letters.add(DeadLetter.getDecoder().decode(r.getValue().value));
        }
      }
    }
    assertEquals(new java.util.TreeSet<>(adapters), new java.util.TreeSet<>(versions.keySet()));
    for (String a : adapters) {
      List<AdapterSnapshot> v = versions.get(a);
      assertEquals(2, v.size(), a);
      assertTrue(v.get(0).getErasures().isEmpty(), a);
      List<Erasure> listed = v.get(1).getErasures();
      assertEquals(1, listed.size(), a + " lists the request once, not " + listed.size() + " times");
      assertEquals("u-1", listed.get(0).getUserId());
      assertEquals(99L, listed.get(0).getOffset());
      assertEquals(1, listed.get(0).getRemovedBuffered(), a);
      long trained = 0;
      for (OffsetRange r : v.get(1).getLineage()) {
        trained += r.getRecords();
      }
      assertEquals(4, trained, a + ": -other and the three after, not -mine");
    }
    // one refusal per key group of 64 (each on the subtask its copy reached), each the request's own bytes
    assertEquals(64, letters.size());
    assertTrue(letters.stream().allMatch(l -> l.getErrorCode().equals("UNEXPECTED")
        && l.getErrorMessage().contains("copied for max parallelism 64, not the trainer's 128")
        && new String(l.getOriginal().array()).contains("\"adapter_id\":\"*\"")), letters.get(0).toString());
  }

  private KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> harness(int subtask)
      throws Exception {
    return new KeyedOneInputStreamOperatorTestHarness<>(
        new AdapterTrainerOperator(TrainerHarness.trainer(TrainerHarness.BAT4, 4, 1, tmp.resolve("s" + subtask))),
        (KeySelector<TrainingItem, String>) i -> i.adapterId, Types.STRING, MAX_PARALLELISM, 2, subtask);
  }

  private static void process(KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> h,
      TrainingItem i) throws Exception {
    h.processElement(new StreamRecord<>(i, 0L));
  }
}
