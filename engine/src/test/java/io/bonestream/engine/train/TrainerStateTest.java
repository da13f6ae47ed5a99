package io.bonestream.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.backend.TrainingStateCodec;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.ScheduleKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleOrder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class TrainerStateTest {
  private static final ModelConfig CONFIG = RandomModels.tinyConfig("llama", 2);
  private static final BaseModel MODEL = RandomModels.model(CONFIG, DataType.FLOAT, false, 5);

  static List<Example> examples(int n, long seed) {
    Rng rng = new Rng(seed);
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 4 + rng.nextInt(8);
      int[] ids = new int[len];
      int[] labels = new int[len];
      for (int t = 0; t < len; t++) {
        ids[t] = 1 + rng.nextInt(31);
        labels[t] = t < len / 2 ? -100 : ids[t];
      }
      out.add(new Example(ids, labels));
    }
    return out;
  }

  private static byte[] adapterBytes(Trainer t) {
    return TrainingStateCodec.encode(t.state());
  }

  @Test
  void stateRoundTripsBitExactly() {
    for (AdapterMethod m : AdapterMethod.values()) {
      Trainer t = Trainer.create(MODEL, AdapterConfig.builder().method(m).r(4).build(),
          TrainConfig.builder().lr(1e-2).batchSize(2).build());
      List<Example> data = examples(6, 1);
      for (int s = 0; s < 3; s++) {
        t.step(data.subList(2 * s, 2 * s + 2));
      }
      TrainingState state = t.state();
      byte[] encoded = TrainingStateCodec.encode(state);
      TrainingState back = TrainingStateCodec.decode(encoded);
      assertEquals(state.adapterConfig(), back.adapterConfig());
      assertEquals(state.trainConfig(), back.trainConfig());
      assertEquals(state.step(), back.step());
      assertEquals(state.rngState(), back.rngState());
      assertEquals(state.tensors().keySet(), back.tensors().keySet());
      for (String k : state.tensors().keySet()) {
        assertArrayEquals(state.tensors().get(k).toFloats(), back.tensors().get(k).toFloats(), k);
      }
      assertArrayEquals(encoded, TrainingStateCodec.encode(back));
      // compact: the raw tensors, a name and shape per tensor, and a small header
      long bound = state.tensorBytes() + 100L * state.tensors().size() + 2048;
      assertTrue(encoded.length < bound, "state is " + encoded.length + " bytes, bound " + bound);
    }
  }

  @Test
  void resumingFromAStateGivesTheSameBytesAsAnUninterruptedRun() {
    List<Example> data = examples(16, 2);
    TrainConfig cfg = TrainConfig.builder().lr(5e-3).weightDecay(0.01).batchSize(2).gradAccum(2)
        .schedule(ScheduleKind.COSINE).warmupSteps(1).totalSteps(4).build();
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    Trainer straight = Trainer.create(MODEL, adapter, cfg);
    for (int s = 0; s < 4; s++) {
      straight.step(data.subList(4 * s, 4 * s + 4));
    }
    Trainer first = Trainer.create(MODEL, adapter, cfg);
    for (int s = 0; s < 2; s++) {
      first.step(data.subList(4 * s, 4 * s + 4));
    }
    Trainer resumed = Trainer.restore(MODEL, TrainingStateCodec.decode(adapterBytes(first)));
    for (int s = 2; s < 4; s++) {
      resumed.step(data.subList(4 * s, 4 * s + 4));
    }
    assertArrayEquals(adapterBytes(straight), adapterBytes(resumed));
  }

  @Test
  void refusesAStateOfAnotherBaseModel() {
    Trainer t = Trainer.create(MODEL, AdapterConfig.builder().r(4).build(), TrainConfig.builder().build());
    BaseModel other = RandomModels.model(CONFIG, DataType.FLOAT, false, 6);
    BaseModel renamed = BaseModel.fromTensors("x", CONFIG, other.namedTensors(), "another-fingerprint");
    BonestreamException e = assertThrows(BonestreamException.class, () -> Trainer.restore(renamed, t.state()));
    assertTrue(e.getMessage().contains("base model"), e.getMessage());
  }

  @Test
  void aNonFiniteStepChangesNothingButTheCounters() {
    Map<String, INDArray> tensors = new TreeMap<>(MODEL.namedTensors());
    INDArray head = tensors.get("lm_head.weight").dup();
    head.putScalar(new long[] {7, 3}, Float.POSITIVE_INFINITY);
    tensors.put("lm_head.weight", head);
    BaseModel broken = BaseModel.fromTensors("broken", CONFIG, tensors, "broken");
    Trainer t = Trainer.create(broken, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(2).build());
    byte[] before = TrainingStateCodec.encode(t.state());
    StepResult r = t.step(examples(2, 3));
    assertTrue(r.skipped());
    assertFalse(Double.isFinite(r.loss()));
    assertEquals(1, t.skippedSteps());
    TrainingState after = t.state();
    TrainingState was = TrainingStateCodec.decode(before);
    for (String k : was.tensors().keySet()) {
      assertArrayEquals(was.tensors().get(k).toFloats(), after.tensors().get(k).toFloats(), k);
    }
    assertEquals(0, after.updates());
    assertEquals(1, after.step());
    // the same data on the intact model is an ordinary step
    Trainer ok = Trainer.create(MODEL, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(),
        TrainConfig.builder().lr(1e-2).batchSize(2).build());
    assertFalse(ok.step(examples(2, 3)).skipped());
  }

  @Test
  void gradientAccumulationEqualsOneLargerBatch() {
    List<Example> data = examples(4, 4);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    Trainer big = Trainer.create(MODEL, adapter, TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.1).batchSize(4).build());
    Trainer acc = Trainer.create(MODEL, adapter, TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.1).batchSize(1).gradAccum(4).build());
    StepResult a = big.step(data);
    StepResult b = acc.step(data);
    assertEquals(a.loss(), b.loss(), 1e-6);
    assertEquals(a.targetTokens(), b.targetTokens());
    INDArray x = big.adapters().parameters().get(0);
    INDArray y = acc.adapters().parameters().get(0);
    assertTrue(x.sub(y).amaxNumber().doubleValue() < 1e-6);
    assertTrue(x.amaxNumber().doubleValue() > 1e-4, "no update happened");
  }

  @Test
  void aWeightOfTwoCountsLikeTheExampleTwice() {
    List<Example> data = examples(2, 5);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    TrainConfig sgd = TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.1).batchSize(4).build();
    Trainer weighted = Trainer.create(MODEL, adapter, sgd);
    Trainer repeated = Trainer.create(MODEL, adapter, sgd);
    StepResult a = weighted.step(List.of(data.get(0).withWeight(2f), data.get(1)));
    StepResult b = repeated.step(List.of(data.get(0), data.get(0), data.get(1)));
    assertEquals(b.loss(), a.loss(), 1e-6);
    INDArray x = weighted.adapters().flatParameters();
    INDArray y = repeated.adapters().flatParameters();
    assertTrue(x.sub(y).amaxNumber().doubleValue() < 1e-6);
  }

  @Test
  void schedulesFollowHuggingFaceDefinitions() {
    // warmup 2, total 10: steps 0, 1 ramp 0, 0.5; then decay over the 8 remaining steps
    assertEquals(0.0, ScheduleKind.COSINE.factor(0, 2, 10));
    assertEquals(0.5, ScheduleKind.COSINE.factor(1, 2, 10));
    assertEquals(1.0, ScheduleKind.COSINE.factor(2, 2, 10), 1e-12);
    assertEquals(0.5, ScheduleKind.COSINE.factor(6, 2, 10), 1e-12); // halfway: cos(π/2) = 0
    assertEquals(0.0, ScheduleKind.COSINE.factor(10, 2, 10), 1e-12);
    assertEquals(0.75, ScheduleKind.LINEAR.factor(4, 2, 10), 1e-12); // 1 − 2/8
    assertEquals(0.0, ScheduleKind.LINEAR.factor(12, 2, 10), 1e-12);
    assertEquals(1.0, ScheduleKind.CONSTANT.factor(100, 2, 10));
    assertEquals(0.5, ScheduleKind.CONSTANT.factor(1, 2, 10));
  }

  @Test
  void aScheduleStartRestartsWarmupAndDecayThere() {
    // warmup 4, total 20, re-warmed at step 100: the schedule's step is step − 100
    TrainConfig c = TrainConfig.builder().lr(0.2).schedule(ScheduleKind.LINEAR).warmupSteps(4).totalSteps(20)
        .scheduleStart(100).build();
    assertEquals(0.0, c.learningRate(100)); // the ramp starts over at 0
    assertEquals(0.05, c.learningRate(101), 1e-15);
    assertEquals(0.1, c.learningRate(102), 1e-15);
    assertEquals(0.2, c.learningRate(104), 1e-15); // S + W: the full rate
    assertEquals(0.2 * 0.5, c.learningRate(112), 1e-15); // then the decay, over total − warmup steps from S + W
    assertEquals(0.0, c.learningRate(120), 1e-15);
    assertEquals(0.0, c.learningRate(500), 1e-15);
    // steps before S count as S (they ran before the re-warm and never run again)
    assertEquals(c.learningRate(100), c.learningRate(99));
    assertEquals(c.learningRate(100), c.learningRate(0));
    // the same rates as a schedule started at 0, shifted by S
    TrainConfig at0 = c.toBuilder().scheduleStart(0).build();
    for (long step = 0; step < 30; step++) {
      assertEquals(at0.learningRate(step), c.learningRate(100 + step), "step " + step);
    }
    // a constant schedule with warmup: ramp again, then lr for good
    TrainConfig constant = TrainConfig.builder().lr(0.2).warmupSteps(2).scheduleStart(7).build();
    assertEquals(0.0, constant.learningRate(7));
    assertEquals(0.1, constant.learningRate(8), 1e-15);
    assertEquals(0.2, constant.learningRate(9), 1e-15);
    assertEquals(0.2, constant.learningRate(10_000), 1e-15);
    // the default is 0: the schedule as before
    TrainConfig plain = TrainConfig.builder().lr(0.2).warmupSteps(2).build();
    assertEquals(0L, plain.scheduleStart());
    assertEquals(0.1, plain.learningRate(1), 1e-15);
    assertEquals(7L, constant.toBuilder().build().scheduleStart()); // kept by toBuilder
    assertThrows(BonestreamException.class, () -> TrainConfig.builder().scheduleStart(-1).build());
  }

  @Test
  void aScheduleStartRoundTripsAndAnEarlierStateDecodesTo0() {
    TrainConfig config = TrainConfig.builder().lr(1e-2).batchSize(2).warmupSteps(3).build();
    Trainer t = Trainer.create(MODEL, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build(), config);
    List<Example> data = examples(4, 3);
    t.step(data.subList(0, 2));
    t.step(data.subList(2, 4));
    TrainingState state = t.state();
    // without a re-warm no schedule_start is written: the bytes of earlier builds
    assertFalse(TrainingStateCodec.trainConfigJson(state.trainConfig()).has("schedule_start"));
    assertEquals(0L, TrainingStateCodec.decode(TrainingStateCodec.encode(state)).trainConfig().scheduleStart());
    assertEquals(config, TrainingStateCodec.trainConfig(TrainingStateCodec.trainConfigJson(config)));

    // re-warmed at step 2 (as the trainer operator does on a drift): restore keeps the config given
    Trainer rewarmed = Trainer.restore(MODEL, state, t.config().toBuilder().scheduleStart(2).build());
    assertEquals(2L, rewarmed.config().scheduleStart());
    TrainingState again = rewarmed.state();
    assertEquals(2L, TrainingStateCodec.trainConfigJson(again.trainConfig()).path("schedule_start").asLong());
    byte[] encoded = TrainingStateCodec.encode(again);
    TrainingState back = TrainingStateCodec.decode(encoded);
    assertEquals(again.trainConfig(), back.trainConfig());
    assertEquals(2L, back.trainConfig().scheduleStart());
    assertArrayEquals(encoded, TrainingStateCodec.encode(back));
    assertEquals(2L, Trainer.restore(MODEL, back).config().scheduleStart());

    // a train-config JSON of an earlier build has no schedule_start: 0
    var json = TrainingStateCodec.trainConfigJson(again.trainConfig());
    json.remove("schedule_start");
    assertEquals(0L, TrainingStateCodec.trainConfig(json).scheduleStart());
    assertEquals(config, TrainingStateCodec.trainConfig(json));
  }

  @Test
  void fileOrderWrapsAroundAndShuffleIsAPermutationPerEpoch() {
    ExampleOrder plain = new ExampleOrder(5, 1, false);
    assertEquals(List.of(3, 4, 0, 1), List.of(plain.at(3), plain.at(4), plain.at(5), plain.at(6)));
    ExampleOrder shuffled = new ExampleOrder(50, 1, true);
    java.util.Set<Integer> epoch0 = new java.util.HashSet<>();
    java.util.List<Integer> e0 = new ArrayList<>();
    java.util.List<Integer> e1 = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      epoch0.add(shuffled.at(i));
      e0.add(shuffled.at(i));
    }
    for (int i = 50; i < 100; i++) {
      e1.add(shuffled.at(i));
    }
    assertEquals(50, epoch0.size());
    assertFalse(e0.equals(e1), "each epoch has its own order");
    assertFalse(e0.equals(new ArrayList<>(new java.util.TreeSet<>(e0))), "shuffle changed nothing");
    assertEquals(e0.get(7), new ExampleOrder(50, 1, true).at(7), "the order is a function of the seed");
  }
}
