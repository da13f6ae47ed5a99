package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training operator alone, in Flink's keyed operator test harness (no cluster, no broker):
 * its keyed state snapshotted and restored into a new operator, and trainers evicted from its
 * cache, must each publish exactly what one uninterrupted operator publishes. Seconds, where the
 * MiniCluster tests take tens.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AdapterTrainerHarnessTest {
  @TempDir Path tmp;

  private AdapterTrainerOperator operator(int maxCachedAdapters) {
    AdapterProfile profile = new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    AdapterProfile bone = new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    AdapterProfile mini = new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.MINI).r(4).miniR(2).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    return new AdapterTrainerOperator(new AdapterTrainer(TestFiles.stories260K().toString(),
        new AdapterProfiles(profile, List.of(new AdapterProfiles.Override("b", bone),
            new AdapterProfiles.Override("c", mini))), BatchPolicy.ofExamples(4),
        new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, tmp.resolve("blobs").toUri().toString()),
        maxCachedAdapters, null, BackendSpec.CPU, null, List.of(), Quotas.NONE));
  }

  private static KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> harness(
      AdapterTrainerOperator op) throws Exception {
    return new KeyedOneInputStreamOperatorTestHarness<>(op, (KeySelector<TrainingItem, String>) i -> i.adapterId,
        Types.STRING);
  }

  /** 48 records, adapters "a" (bat), "b" (bone) and "c" (mini) in turn, random tokens of stories260K's vocabulary. */
  private static List<TrainingItem> items() {
    Rng rng = new Rng(11);
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < 48; i++) {
      int n = 12 + rng.nextInt(20);
      int[] ids = new int[n];
      for (int t = 0; t < n; t++) {
        ids[t] = 3 + rng.nextInt(509);
      }
      String id = new String[] {"a", "b", "c"}[i % 3];
      out.add(new TrainingItem(id, id + "-" + i, ids, ids.clone(), 1f, 0L, "in", 0, i));
    }
    return out;
  }

  private static List<AdapterSnapshot> manifests(List<EncodedRecord> records) throws Exception {
    List<AdapterSnapshot> out = new ArrayList<>();
    for (EncodedRecord r : records) {
      AdapterSnapshot s = AdapterSnapshots.decode(r.value);
      out.add(AdapterSnapshot.newBuilder(s).setCreatedAt(Instant.EPOCH).build());
    }
    return out;
  }

  private List<AdapterSnapshot> straight(int maxCachedAdapters) throws Exception {
    try (var h = harness(operator(maxCachedAdapters))) {
      h.open();
      for (TrainingItem i : items()) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      return manifests(h.extractOutputValues());
    }
  }

  @Test
  void aSnapshotRestoredIntoANewOperatorContinuesExactly() throws Exception {
    List<AdapterSnapshot> straight = straight(100);
    assertEquals(6, straight.size(), "two versions per adapter");
    AdapterSnapshot mini = straight.stream().filter(m -> m.getAdapterId().equals("c")).findFirst().orElseThrow();
    assertEquals("mini", mini.getMethod());
    String config = ((io.bonestream.schemas.InlineAdapter) mini.getPayload()).getAdapterConfigJson();
    assertTrue(config.contains("\"init_weights\" : \"mini\"") && config.contains("\"mini_r\" : 2"), config);
    List<TrainingItem> items = items();
    OperatorSubtaskState snapshot;
    List<AdapterSnapshot> first;
    try (var h = harness(operator(100))) {
      h.open();
      for (TrainingItem i : items.subList(0, 24)) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      first = manifests(h.extractOutputValues());
      snapshot = h.snapshot(1L, 1L);
    }
    List<AdapterSnapshot> second;
    try (var h = harness(operator(100))) {
      h.initializeState(snapshot);
      h.open();
      for (TrainingItem i : items.subList(24, 48)) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      second = manifests(h.extractOutputValues());
    }
    List<AdapterSnapshot> both = new ArrayList<>(first);
    both.addAll(second);
    assertEquals(3, first.size());
    assertEquals(straight, both, "the restored operator published something else");
  }

  @Test
  void evictedTrainersComeBackFromTheirState() throws Exception {
    // one trainer in the cache: every record of the other adapter evicts it (its state written, then read back)
    List<AdapterSnapshot> evicting = straight(1);
    List<AdapterSnapshot> cached = straight(100);
    assertTrue(cached.size() == 6, cached.toString());
    assertEquals(cached, evicting);
  }

  /**
   * A cache of one trainer and a snapshot between versions, records still buffered: the trainers
   * evicted before it wrote their state then, the live one when the snapshot is taken; restored
   * into a new operator, it publishes what one uninterrupted operator does.
   */
  @Test
  void aSnapshotWithEvictedTrainersRestoresExactly() throws Exception {
    List<AdapterSnapshot> cached = straight(100);
    List<TrainingItem> items = items();
    OperatorSubtaskState snapshot;
    List<AdapterSnapshot> both = new ArrayList<>();
    try (var h = harness(operator(1))) {
      h.open();
      for (TrainingItem i : items.subList(0, 22)) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      both.addAll(manifests(h.extractOutputValues()));
      snapshot = h.snapshot(1L, 1L);
    }
    try (var h = harness(operator(1))) {
      h.initializeState(snapshot);
      h.open();
      for (TrainingItem i : items.subList(22, 48)) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      both.addAll(manifests(h.extractOutputValues()));
    }
    assertEquals(cached, both, "the restored operator published something else");
  }

  /**
   * Quotas: an adapter flooding the subtask beyond its share has its excess records dead-lettered
   * (OVER_SHARE), the other adapter none; every record is trained or dead-lettered, once.
   */
  @Test
  void aFloodingAdapterIsTurnedAwayBeyondItsShare() throws Exception {
    AdapterProfile profile = new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    AdapterTrainerOperator op = new AdapterTrainerOperator(new AdapterTrainer(TestFiles.stories260K().toString(),
        AdapterProfiles.of(profile), BatchPolicy.ofExamples(4),
        new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, tmp.resolve("blobs").toUri().toString()),
        100, null, BackendSpec.CPU, null, List.of(), new Quotas(0, 0.5, 256)));
    Rng rng = new Rng(3);
    List<TrainingItem> records = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      String id = i % 6 == 5 ? "quiet" : "flood"; // five flood records for each quiet one
      int[] ids = new int[16];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 3 + rng.nextInt(509);
      }
      TrainingItem item = new TrainingItem(id, id + "-" + i, ids, ids.clone(), 1f, 0L, "in", 0, i);
      item.original = new byte[] {(byte) i};
      item.originalKey = id.getBytes(java.nio.charset.StandardCharsets.UTF_8);
      records.add(item);
    }
    List<io.bonestream.schemas.DeadLetter> letters = new ArrayList<>();
    try (var h = harness(op)) {
      h.open();
      for (TrainingItem i : records) {
        h.processElement(new StreamRecord<>(i, 0L));
      }
      var side = h.getSideOutput(io.bonestream.operators.decode.DecodeInstructions.DEAD_LETTERS);
      if (side != null) {
        for (StreamRecord<EncodedRecord> r : side) {
          letters.add(io.bonestream.schemas.DeadLetter.getDecoder().decode(r.getValue().value));
        }
      }
    }
    assertTrue(letters.size() >= 5, "the flood was not turned away: " + letters.size());
    java.util.Set<Long> offsets = new java.util.HashSet<>();
    for (io.bonestream.schemas.DeadLetter d : letters) {
      assertEquals("OVER_SHARE", d.getErrorCode(), d.getErrorMessage());
      assertTrue(d.getErrorMessage().contains("'flood'"), d.getErrorMessage());
      assertTrue(offsets.add(d.getOffset()), "dead-lettered twice: " + d.getOffset());
    }
    assertTrue(letters.size() < 50, "everything was turned away: " + letters.size());
  }
}
