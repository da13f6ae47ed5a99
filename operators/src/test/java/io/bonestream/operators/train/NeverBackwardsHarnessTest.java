package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.publish.PublishedInMemory;
import io.bonestream.operators.publish.PublishedSnapshots;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Versions never go backwards, in the keyed operator harness: an operator whose state is lost, or
 * restored from an older snapshot, reads what the adapters topic holds (here the earlier
 * operator's manifests, in memory) and numbers its versions after it; without that read a lost
 * state publishes version 1 again. One adapter, 4 records a step, a version every 2 steps.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NeverBackwardsHarnessTest {
  private static final TrainConfig CONFIG = TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build();

  @TempDir Path tmp;

  private AdapterTrainer trainer(@Nullable PublishedSnapshots published) {
    return new AdapterTrainer(TestFiles.stories260K().toString(),
        AdapterProfiles.of(new AdapterProfile(AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(), CONFIG)),
        BatchPolicy.ofExamples(4),
        new SnapshotPolicy(2, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, tmp.resolve("blobs").toUri().toString()),
        100, published, BackendSpec.CPU, null, List.of(), Quotas.NONE);
  }

  /** Adapter "a"'s records at offsets 0..n-1: random tokens of stories260K's vocabulary. */
  private static List<TrainingItem> records(int n) {
    Rng rng = new Rng(7);
    List<TrainingItem> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[12 + rng.nextInt(20)];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 3 + rng.nextInt(509);
      }
      out.add(new TrainingItem("a", "a-" + i, ids, ids.clone(), 1f, 0L, "in", 0, i));
    }
    return out;
  }

  private static List<Long> versions(List<AdapterSnapshot> manifests) {
    return manifests.stream().map(AdapterSnapshot::getVersion).toList();
  }

  private static byte[] weights(AdapterSnapshot s) {
    InlineAdapter in = (InlineAdapter) s.getPayload();
    byte[] out = new byte[in.getAdapterModelSafetensors().remaining()];
    in.getAdapterModelSafetensors().duplicate().get(out);
    return out;
  }

  @Test
  void restoringAnOlderSnapshotNumbersVersionsAfterTheNewestPublished() throws Exception {
    List<TrainingItem> records = records(32);
    OperatorSubtaskState atVersion2;
    List<EncodedRecord> topic;
    try (var h = TrainerHarness.of(trainer(new PublishedInMemory(List.of())))) {
      h.open();
      TrainerHarness.process(h, records.subList(0, 16));
      atVersion2 = h.snapshot(1L, 1L);
      TrainerHarness.process(h, records.subList(16, 32));
      topic = new ArrayList<>(h.extractOutputValues());
    }
    List<AdapterSnapshot> first = TrainerHarness.manifests(topic);
    assertEquals(List.of(1L, 2L, 3L, 4L), versions(first));

    // the operator goes back to version 2's state and trains records 16..31 again
    List<AdapterSnapshot> again;
    try (var h = TrainerHarness.of(trainer(new PublishedInMemory(topic)))) {
      h.initializeState(atVersion2);
      h.open();
      TrainerHarness.process(h, records.subList(16, 32));
      again = TrainerHarness.manifests(h.extractOutputValues());
    }
    assertEquals(List.of(5L, 6L), versions(again), "numbered after version 4, never 3 or 4 again");
    assertEquals(2, again.get(0).getResumedFrom().getVersion());
    assertEquals("STALE_STATE", again.get(0).getResumedFrom().getReason());
    assertFalse(again.get(0).getResumedFrom().getFreshOptimizer());
    assertNull(again.get(1).getResumedFrom(), "told once");
    // the same state and records as the run that made versions 3 and 4: the same manifests but for the number
    for (int i = 0; i < 2; i++) {
      assertEquals(first.get(2 + i), AdapterSnapshot.newBuilder(again.get(i)).setVersion(3 + i).setResumedFrom(null)
          .build(), "version " + (5 + i) + " against " + (3 + i));
    }
  }

  @Test
  void anAdapterWhoseStateIsLostContinuesFromItsNewestPublishedVersion() throws Exception {
    List<TrainingItem> records = records(32);
    List<EncodedRecord> topic;
    try (var h = TrainerHarness.of(trainer(new PublishedInMemory(List.of())))) {
      h.open();
      TrainerHarness.process(h, records.subList(0, 24));
      topic = new ArrayList<>(h.extractOutputValues());
    }
    List<AdapterSnapshot> first = TrainerHarness.manifests(topic);
    assertEquals(List.of(1L, 2L, 3L), versions(first));
    AdapterSnapshot v3 = first.get(2);
    assertNull(v3.getResumedFrom());

    // a new operator without state: the checkpoints are gone
    AdapterSnapshot v4;
    try (var h = TrainerHarness.of(trainer(new PublishedInMemory(topic)))) {
      h.open();
      TrainerHarness.process(h, records.subList(24, 32));
      List<AdapterSnapshot> after = TrainerHarness.manifests(h.extractOutputValues());
      assertEquals(List.of(4L), versions(after));
      v4 = after.get(0);
    }
    assertEquals(3, v4.getResumedFrom().getVersion());
    assertEquals("NO_STATE", v4.getResumedFrom().getReason());
    assertTrue(v4.getResumedFrom().getFreshOptimizer());
    assertEquals(8, v4.getStats().getStep(), "the step count goes on from version 3's");
    assertEquals(32, v4.getStats().getExamples());
    assertEquals(AdapterMethod.BAT.id(), v4.getMethod());

    // independently: version 3's adapter, a fresh optimizer, two steps on records 24..31, in the engine
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    AdapterSet adapters = PeftImporter.read(((InlineAdapter) v3.getPayload()).getAdapterConfigJson(), weights(v3),
        base, "v3");
    try (Trainer t = Trainer.continueFrom(base, adapters, CONFIG, 6, 0, v3.getStats().getTokens(), 24)) {
      for (int step = 0; step < 2; step++) {
        List<Example> batch = new ArrayList<>();
        for (TrainingItem i : records.subList(24 + 4 * step, 28 + 4 * step)) {
          batch.add(new Example(i.inputIds, i.labels, i.weight));
        }
        t.step(batch);
      }
      assertArrayEquals(PeftExporter.render(t.adapters(), base, PeftFormat.MISS, 4).weights(), weights(v4));
    }
  }

  @Test
  void withoutReadingTheTopicALostStateWouldPublishVersionOneAgain() throws Exception {
    // what reading the topic prevents, so that the tests above can fail
    List<TrainingItem> records = records(16);
    List<Long> published = new ArrayList<>();
    for (List<TrainingItem> half : List.of(records.subList(0, 8), records.subList(8, 16))) {
      try (var h = TrainerHarness.of(trainer(null))) {
        h.open();
        TrainerHarness.process(h, half);
        published.addAll(versions(TrainerHarness.manifests(h.extractOutputValues())));
      }
    }
    assertEquals(List.of(1L, 1L), published);
  }
}
