package io.bonestream.operators.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code bonestream bench --continual}: what the continual-learning guards (docs/continual.md) cost
 * an adapter, in step time and in state. Three trainers of the same profile, on the same batches,
 * take turns step by step (the order rotates every round, so all three meet the same machine):
 *
 * <ul>
 *   <li><b>plain</b>: a step on the fresh examples, the guards off;
 *   <li><b>replay</b>: what the training operator does per step when its profile replays: the
 *       reservoir decoded from its keyed-state bytes, {@code replaysFor(fresh)} replays drawn, a step
 *       on fresh + replays, the fresh examples offered, the reservoir encoded again. The reservoir is
 *       filled to its capacity before the first timed step;
 *   <li><b>replay + drift</b>: as replay, and the fresh batch's loss before the step (from the step's
 *       own forward pass over the fresh micro-batches, as the operator takes it) fed to the
 *       {@link DriftDetector}.
 * </ul>
 *
 * <p>The timed rounds are cut into blocks (repeats); each block gives every mode's mean step time and
 * the reported figure is the median over the blocks (the ratios are the medians of the blocks' ratios,
 * with their lowest and highest). The anchor guard's cost is one evaluation of the anchor set ({@link
 * AnchorSet#score}) per scored snapshot, timed once per block, and amortized over the snapshot
 * interval; erasure-retrain's is one encoded training state per published version, timed and kept
 * likewise, plus the record of the ids each step trained on ({@link TrainedSinceVersion}: decoded,
 * added to and encoded at every step, started afresh at every version), timed per step. The memory part says what each guard keeps per adapter (the reservoir's keyed-state bytes,
 * the version state) against the adapter's own training state, and what the anchor set keeps once per
 * profile.
 */
public final class ContinualBench {
  private ContinualBench() {}

  /**
   * The profile and data measured: {@code batch} fresh examples per step from {@code data} (JSONL
   * records in any input format, cycled), {@code replayRatio} and {@code capacity} as the profile's
   * replay keys, {@code everySteps} the snapshot interval the anchor and version-state costs are
   * amortized over (the anchor scored at every snapshot: every-versions 1).
   */
  public record Setup(Path modelDir, AdapterConfig adapter, TrainConfig train, int batch, Path data, Path anchor,
      double replayRatio, int capacity, long maxBytes, int everySteps) {
    public Setup {
      if (batch < 1 || capacity < 1 || maxBytes < 1 || everySteps < 1 || !(replayRatio > 0)) {
        throw new IllegalArgumentException("batch, capacity, max-bytes and every-steps must be positive, the replay "
            + "ratio above 0");
      }
    }
  }

  /**
   * One run. Times are seconds: medians over the repeats of each mode's mean step time; ratios
   * against the plain step (median, lowest and highest over the repeats). {@code reservoirCodecSeconds}
   * is the reservoir's decode + encode alone per step (part of the replay step). Anchor: its
   * examples and tokens, one scoring's seconds and that over {@code everySteps} steps. Memory in
   * bytes: the reservoir's keyed-state bytes ({@code toBytes}) and its own count ({@code bytes()})
   * at {@code reservoirSize} of {@code capacity} examples, the anchor set's token arrays (ids and
   * labels, shared by every adapter of the profile), the erasure-retrain version state, the
   * adapter's training state (the same encoding: equal by construction) and its parameters.
   */
  public record Result(String model, String method, int r, int batch, int maxSeqLen, int microBatch,
      double freshTokensPerStep, int replaysPerStep, int warmup, int steps, int repeats,
      double plainSeconds, double replaySeconds, double replayDriftSeconds, double reservoirCodecSeconds,
      double replayRatio, double replayRatioMin, double replayRatioMax,
      double replayDriftRatio, double replayDriftRatioMin, double replayDriftRatioMax,
      int anchorExamples, long anchorTokens, double anchorSeconds, int everySteps, double anchorPerStepSeconds,
      double anchorPerStepRatio, double versionStateSeconds, double versionStatePerStepSeconds,
      double trainedRecordSeconds, long trainedRecordBytes, int capacity, long maxBytes, int reservoirSize, long reservoirStateBytes, long reservoirBytes,
      long anchorTokenBytes, long versionStateBytes, long trainingStateBytes, long adapterParameterBytes,
      long driftEvents) {}

  /** The three step modes. */
  private enum Mode { PLAIN, REPLAY, REPLAY_DRIFT }

  /**
   * Runs {@code warmup} untimed rounds, then {@code steps} timed rounds (one step of each mode
   * each) in {@code repeats} blocks.
   */
  public static Result run(Setup s, int warmup, int steps, int repeats, BackendFactory backend) {
    if (warmup < 0 || repeats < 1 || steps < repeats) {
      throw new IllegalArgumentException("warm-up rounds ≥ 0, repeats ≥ 1 and steps ≥ repeats");
    }
    SharedModels.Loaded shared = SharedModels.acquire(s.modelDir());
    try {
      AdapterProfile profile = new AdapterProfile(s.adapter(), s.train());
      ExampleEncoder encoder = new ExampleEncoder(shared.tokenizer(), s.train().maxSeqLen(),
          shared.model().config().vocabSize());
      List<Example> data = parse(s.data(), new RecordParser(encoder));
      ContinualPolicy.Replay replay = new ContinualPolicy.Replay(s.replayRatio(), s.capacity(), s.maxBytes());
      ContinualPolicy.Anchor anchorPolicy = new ContinualPolicy.Anchor(s.anchor().toString(), lines(s.anchor()), 1,
          0, 0.10, true);
      AnchorSet anchor = AnchorSet.of(anchorPolicy, profile, shared, backend, s.train().maxSeqLen());

      // the reservoir as keyed state holds it: bytes, filled to capacity with earlier examples
      ReplayReservoir filled = new ReplayReservoir(replay.capacity(), replay.maxBytes(), 0x5eedL);
      for (int i = 0; i < 2 * replay.capacity(); i++) {
        Example e = data.get(i % data.size());
        filled.offer(new ReplayReservoir.Entry("pre-" + i, "user-" + (i % 7), e.inputIds(), e.labels(), e.weight()));
      }
      byte[][] reservoirState = {filled.toBytes(), filled.toBytes()}; // REPLAY's, REPLAY_DRIFT's
      DriftDetector.State[] drift = {DriftDetector.State.EMPTY};
      long[] driftEvents = {0};
      int replays = replay.replaysFor(s.batch());

      Trainer[] trainers = new Trainer[Mode.values().length];
      try {
        for (Mode m : Mode.values()) {
          trainers[m.ordinal()] = Trainer.create(shared.model(), s.adapter(), s.train(), backend);
        }
        int perBlock = steps / repeats;
        int timedRounds = perBlock * repeats;
        double[][] blockSeconds = new double[Mode.values().length][repeats];
        double[] codecSeconds = new double[repeats];
        double[] anchorSeconds = new double[repeats];
        double[] versionSeconds = new double[repeats];
        double[] recordSeconds = new double[repeats];
        byte[] record = TrainedSinceVersion.none().toBytes();
        long recordBytes = 0;
        long freshTokens = 0;
        int cursor = 0;
        for (int round = -warmup; round < timedRounds; round++) {
          List<Example> fresh = new ArrayList<>(s.batch());
          List<String> ids = new ArrayList<>(s.batch());
          for (int i = 0; i < s.batch(); i++, cursor++) {
            Example e = data.get(cursor % data.size());
            fresh.add(e);
            ids.add("e-" + cursor);
            if (round >= 0) {
              freshTokens += e.inputIds().length;
            }
          }
          double[] codec = {0};
          for (int k = 0; k < Mode.values().length; k++) {
            Mode m = Mode.values()[Math.floorMod(round + k, Mode.values().length)]; // each goes first in turn
            long t0 = System.nanoTime();
            switch (m) {
              case PLAIN -> trainers[m.ordinal()].step(fresh);
              case REPLAY, REPLAY_DRIFT -> reservoirState[m.ordinal() - 1] = replayStep(trainers[m.ordinal()],
                  reservoirState[m.ordinal() - 1], replay, fresh, ids, m == Mode.REPLAY_DRIFT, drift, driftEvents,
                  m == Mode.REPLAY ? codec : new double[1]);
            }
            double dt = (System.nanoTime() - t0) / 1e9;
            if (round >= 0) {
              blockSeconds[m.ordinal()][round / perBlock] += dt / perBlock;
            }
          }
          if (round >= 0) {
            codecSeconds[round / perBlock] += codec[0] / perBlock;
            // erasure-retrain's record of the ids trained on: the fresh ones and the replays' (earlier ones)
            long t0 = System.nanoTime();
            TrainedSinceVersion trained = TrainedSinceVersion.fromBytes(record);
            for (String id : ids) {
              trained.add(id, "");
            }
            for (int k = 0; k < replays; k++) {
              trained.add("pre-" + Math.floorMod(cursor * 31 + k * 17, 2 * replay.capacity()), "user-" + (k % 7));
            }
            record = trained.toBytes();
            recordSeconds[round / perBlock] += (System.nanoTime() - t0) / 1e9 / perBlock;
            if (round % s.everySteps() == s.everySteps() - 1) { // a version: the record starts again
              recordBytes = Math.max(recordBytes, record.length);
              record = TrainedSinceVersion.none().toBytes();
            }
          }
          if (round >= 0 && round % perBlock == perBlock - 1) { // once per block: a snapshot's extra work
            int block = round / perBlock;
            Trainer t = trainers[Mode.REPLAY_DRIFT.ordinal()];
            long t0 = System.nanoTime();
            double loss = anchor.score(t);
            anchorSeconds[block] = (System.nanoTime() - t0) / 1e9;
            if (!(loss > 0)) {
              throw new IllegalStateException("anchor loss " + loss);
            }
            t0 = System.nanoTime();
            byte[] version = t.encodedState();
            versionSeconds[block] = (System.nanoTime() - t0) / 1e9;
            if (version.length == 0) {
              throw new IllegalStateException("an empty training state");
            }
          }
        }
        double[] replayRatios = new double[repeats];
        double[] driftRatios = new double[repeats];
        for (int b = 0; b < repeats; b++) {
          replayRatios[b] = blockSeconds[Mode.REPLAY.ordinal()][b] / blockSeconds[Mode.PLAIN.ordinal()][b];
          driftRatios[b] = blockSeconds[Mode.REPLAY_DRIFT.ordinal()][b] / blockSeconds[Mode.PLAIN.ordinal()][b];
        }
        double plain = median(blockSeconds[Mode.PLAIN.ordinal()]);
        double anchorScore = median(anchorSeconds);
        double versionState = median(versionSeconds);
        Trainer guarded = trainers[Mode.REPLAY_DRIFT.ordinal()];
        ReplayReservoir kept = ReplayReservoir.fromBytes(reservoirState[0]);
        byte[] versionBytes = guarded.encodedState(); // what erasure-retrain keeps at a version
        byte[] trainingBytes = trainers[Mode.PLAIN.ordinal()].encodedState(); // the adapter's own training state
        long paramBytes = guarded.adapters().parameterCount() * guarded.adapters().flatParameters().dataType().width();
        return new Result(s.modelDir().getFileName().toString(), s.adapter().method().id(), s.adapter().r(), s.batch(),
            s.train().maxSeqLen(), s.train().batchSize(), (double) freshTokens / timedRounds, replays, warmup,
            timedRounds, repeats, plain, median(blockSeconds[Mode.REPLAY.ordinal()]),
            median(blockSeconds[Mode.REPLAY_DRIFT.ordinal()]), median(codecSeconds),
            median(replayRatios), min(replayRatios), max(replayRatios),
            median(driftRatios), min(driftRatios), max(driftRatios),
            anchor.size(), anchor.tokens(), anchorScore, s.everySteps(), anchorScore / s.everySteps(),
            anchorScore / s.everySteps() / plain, versionState, versionState / s.everySteps(),
            median(recordSeconds), Math.max(recordBytes, record.length),
            replay.capacity(), replay.maxBytes(), kept.size(), reservoirState[0].length, kept.bytes(),
            8 * anchor.tokens(), versionBytes.length, trainingBytes.length, paramBytes, driftEvents[0]);
      } finally {
        for (Trainer t : trainers) {
          if (t != null) {
            t.close();
          }
        }
      }
    } finally {
      SharedModels.release(s.modelDir());
    }
  }

  /**
   * One step as the training operator takes it when the profile replays (and, with {@code drift},
   * watches for drift); answers the reservoir's new bytes. {@code codec} gets the seconds spent
   * decoding and encoding the reservoir.
   */
  private static byte[] replayStep(Trainer trainer, byte[] state, ContinualPolicy.Replay policy, List<Example> fresh,
      List<String> ids, boolean drift, DriftDetector.State[] driftState, long[] driftEvents, double[] codec) {
    long t0 = System.nanoTime();
    ReplayReservoir reservoir = ReplayReservoir.fromBytes(state);
    codec[0] += (System.nanoTime() - t0) / 1e9;
    GuardedStep.Outcome o = GuardedStep.take(trainer, fresh, reservoir, policy, drift);
    for (int i = 0; i < fresh.size(); i++) {
      Example e = fresh.get(i);
      reservoir.offer(new ReplayReservoir.Entry(ids.get(i), "", e.inputIds(), e.labels(), e.weight()));
    }
    if (drift) {
      DriftDetector.Verdict v = DriftDetector.observe(driftState[0], o.freshLoss(),
          ContinualPolicy.Drift.DEFAULT.settings());
      driftState[0] = v.state();
      if (v.drift()) {
        driftEvents[0]++;
      }
    }
    t0 = System.nanoTime();
    byte[] out = reservoir.toBytes();
    codec[0] += (System.nanoTime() - t0) / 1e9;
    return out;
  }

  private static List<String> lines(Path file) {
    try {
      return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<Example> parse(Path file, RecordParser parser) {
    List<Example> out = new ArrayList<>();
    for (String line : lines(file)) {
      try {
        JsonNode node = Json.MAPPER.readTree(line);
        out.add(parser.parse(node));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(file.getFileName() + ": no records");
    }
    return out;
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    int n = s.length;
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }

  private static double min(double[] v) {
    return Arrays.stream(v).min().orElse(Double.NaN);
  }

  private static double max(double[] v) {
    return Arrays.stream(v).max().orElse(Double.NaN);
  }
}
