package io.bonestream.operators.train;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.GatedSnapshot;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

/** The training operator in Flink's keyed test harness, and what it emitted, decoded. */
final class TrainerHarness {
  /** A small profile: bat r 4, lr 1e-2, batches of 4, 64 tokens at most. */
  static final AdapterProfile BAT4 = new AdapterProfile(
      io.bonestream.core.adapters.AdapterConfig.builder().method(io.bonestream.core.adapters.AdapterMethod.BAT).r(4)
          .build(),
      io.bonestream.engine.config.TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
  private static final int[] TOKENS = {1, 72, 43, 287, 9, 300, 14, 2};

  private TrainerHarness() {}

  /** An example of adapter "a" with eight tokens, all of them targets, read from topic "in" at {@code offset}. */
  static TrainingItem example(String exampleId, long offset) {
    return new TrainingItem("a", exampleId, TOKENS, TOKENS, 1f, Long.MIN_VALUE, "in", 0, offset);
  }

  /**
   * The trainer of the harness tests: stories260K on the CPU, {@code profile} for every adapter, a
   * step every {@code batch} examples, a version every {@code stepsPerSnapshot} steps, claim checks
   * under {@code tmp/blobs}; no topic read back, no signing, no quotas.
   */
  static AdapterTrainer trainer(AdapterProfile profile, int batch, int stepsPerSnapshot, java.nio.file.Path tmp) {
    return new AdapterTrainer(io.bonestream.engine.TestFiles.stories260K().toString(), AdapterProfiles.of(profile),
        BatchPolicy.ofExamples(batch), new io.bonestream.operators.publish.SnapshotPolicy(stepsPerSnapshot, 0, 0,
            io.bonestream.operators.publish.SnapshotPolicy.DEFAULT_INLINE_LIMIT, tmp.resolve("blobs").toUri().toString()),
        100, null, io.bonestream.engine.backend.BackendSpec.CPU, null, List.of(), Quotas.NONE);
  }

  static KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> of(AdapterTrainer trainer)
      throws Exception {
    return new KeyedOneInputStreamOperatorTestHarness<>(new AdapterTrainerOperator(trainer),
        (KeySelector<TrainingItem, String>) i -> i.adapterId, Types.STRING);
  }

  static void process(KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> h,
      List<TrainingItem> items) throws Exception {
    for (TrainingItem i : items) {
      h.processElement(new StreamRecord<>(i, 0L));
    }
  }

  /** The manifests, {@code created_at} (the wall clock) set to the epoch so that runs compare. */
  static List<AdapterSnapshot> manifests(List<EncodedRecord> records) throws Exception {
    List<AdapterSnapshot> out = new ArrayList<>();
    for (EncodedRecord r : records) {
      AdapterSnapshot s = AdapterSnapshots.decode(r.value);
      out.add(AdapterSnapshot.newBuilder(s).setCreatedAt(Instant.EPOCH).build());
    }
    return out;
  }

  /** What the operator sent to the gated topic. */
  static List<GatedSnapshot> gated(KeyedOneInputStreamOperatorTestHarness<String, TrainingItem, EncodedRecord> h)
      throws Exception {
    List<GatedSnapshot> out = new ArrayList<>();
    var side = h.getSideOutput(AdapterTrainer.GATED);
    if (side != null) {
      for (StreamRecord<EncodedRecord> r : side) {
        out.add(io.bonestream.schemas.GatedSnapshots.decode(r.getValue().value));
      }
    }
    return out;
  }
}
