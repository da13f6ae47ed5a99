package io.bonestream.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A step that measures its first micro-batches' loss (the drift signal's fresh examples ahead of
 * the replays): that loss is the one the model gave them before the step, as a separate evaluation
 * finds it, and the step itself is the step without measuring.
 */
@Timeout(120)
class MeasuredStepTest {
  @Test
  void theFirstMicroBatchesLossIsTheirLossBeforeTheStep() {
    ModelConfig c = RandomModel.config(64, 2, 4, 2, 176, 300, 128);
    BaseModel base = RandomModel.create(c, DataType.FLOAT, 0.02, 0.0, false, 7);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BONE).r(8).build();
    TrainConfig train = TrainConfig.builder().lr(5e-2).batchSize(2).build();
    Rng rng = new Rng(9);
    List<Example> fresh = examples(3, c, rng);
    List<Example> replays = examples(2, c, rng);
    List<List<Example>> micro = List.of(fresh.subList(0, 2), fresh.subList(2, 3), replays);
    try (Trainer measuring = Trainer.create(base, adapter, train); Trainer plain = Trainer.create(base, adapter, train)) {
      for (int s = 0; s < 2; s++) { // the second step starts from trained values
        double before = plain.evaluate(fresh);
        StepResult expected = plain.stepMicroBatches(micro);
        TrainingSession.Measured m = measuring.stepMeasuring(micro, 2);
        assertEquals(before, m.firstLoss(), 1e-6 * before, "step " + s);
        assertEquals(expected.loss(), m.result().loss(), 0.0);
        assertArrayEquals(plain.backend().parameters(), measuring.backend().parameters());
        assertNotEquals(before, plain.evaluate(fresh), "the step changed nothing");
      }
      assertTrue(Double.isNaN(measuring.stepMeasuring(micro, 0).firstLoss()));
    }
  }

  private static List<Example> examples(int n, ModelConfig c, Rng rng) {
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[20 + rng.nextInt(30)];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 3 + rng.nextInt(c.vocabSize() - 3);
      }
      out.add(new Example(ids, ids.clone()));
    }
    return out;
  }
}
