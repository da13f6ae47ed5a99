package io.bonestream.engine.backend.device;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Json;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleOrder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The engine's reference checks, run on any device: the four training goldens (PyTorch, float64,
 * on stories260K with pre-tokenized data) and the greedy golden of llama2.c. No ND4J and no
 * tokenizer, so {@code selftest} runs them from the lean GPU distribution.
 */
public final class Goldens {
  private Goldens() {}

  /**
   * One reference run and its yardsticks: the float32 tolerance of the goldens' README, and the
   * distance PyTorch's own bf16 autocast lands at (../reference/gpu, H200), which a bf16 engine
   * may exceed by at most half.
   */
  public record Case(String name, AdapterMethod method, int r, int steps, int batch, OptimizerKind optimizer,
      double weightDecay, double clip, double fp32Tolerance, double torchBf16Distance) {
    public TrainConfig trainConfig() {
      return TrainConfig.builder().optimizer(optimizer).lr(0.01).weightDecay(weightDecay)
          .maxGradNorm(clip).batchSize(batch).build();
    }
  }

  public static final List<Case> CASES = List.of(
      new Case("bone_r8_sgd_3steps", AdapterMethod.BONE, 8, 3, 2, OptimizerKind.SGD, 0, 0, 1e-4, 2.8e-2),
      new Case("bat_r4_sgd_3steps", AdapterMethod.BAT, 4, 3, 2, OptimizerKind.SGD, 0, 0, 1e-4, 2.1e-2),
      new Case("bone_r8_adamw_20steps", AdapterMethod.BONE, 8, 20, 4, OptimizerKind.ADAMW, 0.01, 0, 5e-3, 0.45),
      new Case("bat_r4_adamw_clip_20steps", AdapterMethod.BAT, 4, 20, 4, OptimizerKind.ADAMW, 0, 1, 5e-3, 0.57));

  /** How a run compares: relative L2 distance of all adapter tensors, worst relative loss difference. */
  public record Result(Case c, double relL2, double lossDiff, double[] losses, double seconds) {
    /** The float32 criterion: both within the README's tolerance. */
    public boolean passesFp32() {
      return relL2 < c.fp32Tolerance() && lossDiff < c.fp32Tolerance();
    }

    /** The bf16 criterion: at most 1.5 times PyTorch-bf16's distance. */
    public boolean passesBf16() {
      return relL2 <= 1.5 * c.torchBf16Distance() && Double.isFinite(lossDiff);
    }
  }

  /** The golden runs' records ({@code tiny_sft.jsonl}: input_ids and labels). */
  public static List<Example> data(Path goldenDir) {
    return examples(goldenDir.resolve("tiny_sft.jsonl"));
  }

  /** Pre-tokenized records, one {@code {"input_ids": [...], "labels": [...]}} per line. */
  public static List<Example> examples(Path file) {
    List<Example> out = new ArrayList<>();
    try {
      for (String line : Files.readAllLines(file)) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode n = Json.MAPPER.readTree(line);
        out.add(new Example(ints(n.path("input_ids")), ints(n.path("labels"))));
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    return out;
  }

  private static int[] ints(JsonNode a) {
    int[] v = new int[a.size()];
    for (int i = 0; i < v.length; i++) {
      v[i] = a.get(i).asInt();
    }
    return v;
  }

  /** Trains one golden run on {@code model} (stories260K) and compares it with the reference. */
  public static Result train(DeviceTransformer model, Case c, Path goldenDir) {
    long t0 = System.nanoTime();
    List<Example> data = data(goldenDir);
    AdapterConfig ac = AdapterConfig.builder().method(c.method()).r(c.r()).build();
    TrainConfig tc = c.trainConfig();
    AdapterLayout layout = AdapterLayout.of(model.model().config(), ac);
    double[] losses = new double[c.steps()];
    TrainingState state;
    try (DeviceTrainer backend = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(tc.seed())))) {
      TrainingSession session = new TrainingSession(backend, tc, new Rng(tc.seed()));
      ExampleOrder order = new ExampleOrder(data.size(), tc.seed(), false);
      for (int s = 0; s < c.steps(); s++) {
        List<Example> batch = new ArrayList<>();
        for (int j = 0; j < c.batch(); j++) {
          batch.add(data.get(order.at((long) s * c.batch() + j)));
        }
        losses[s] = session.step(batch).loss();
      }
      state = session.state(layout, model.model().fingerprint());
    }
    Path dir = goldenDir.resolve(c.name());
    Map<String, SafeTensorsReader.Entry> want = SafeTensorsReader.readHeader(dir.resolve("adapter_model.safetensors"));
    double diff = 0;
    double norm = 0;
    for (SafeTensorsReader.Entry e : want.values()) {
      HostTensor got = state.tensors().get(e.name());
      if (got == null || !Arrays.equals(got.shape(), e.shape())) {
        throw new BonestreamException("golden tensor " + e.name() + " has no counterpart of shape "
            + Arrays.toString(e.shape()));
      }
      float[] w = SafeTensorsReader.readFloats(e);
      float[] g = got.floats();
      for (int i = 0; i < w.length; i++) {
        diff += Math.pow((double) g[i] - w[i], 2);
        norm += Math.pow(w[i], 2);
      }
    }
    JsonNode wantLoss = Json.readTree(dir.resolve("losses.json")).get("losses");
    double lossDiff = 0;
    for (int s = 0; s < c.steps(); s++) {
      double ref = wantLoss.get(s).asDouble();
      lossDiff = Math.max(lossDiff, Math.abs(losses[s] - ref) / Math.abs(ref));
    }
    if (!Double.isFinite(diff)) {
      lossDiff = Double.NaN;
    }
    return new Result(c, Math.sqrt(diff / norm), lossDiff, losses, (System.nanoTime() - t0) / 1e9);
  }

  /** A real task's held-out loss before and after training. */
  public record Task(int steps, double evalBefore, double evalAfter, double seconds) {}

  /**
   * Trains a real task ({@code train.jsonl}, 64 "What color is the ball?" records, tokenized for
   * stories260K) for {@code steps} steps — bat r 4, AdamW lr 1e-2, batch 8, shuffled, clipping at
   * 1 — and measures the loss on its 16 held-out records ({@code eval.jsonl}).
   */
  public static Task task(DeviceTransformer model, Path taskDir, int steps) {
    long t0 = System.nanoTime();
    List<Example> train = examples(taskDir.resolve("train.jsonl"));
    List<Example> eval = examples(taskDir.resolve("eval.jsonl"));
    AdapterConfig ac = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    TrainConfig tc = TrainConfig.builder().lr(1e-2).batchSize(8).build();
    AdapterLayout layout = AdapterLayout.of(model.model().config(), ac);
    try (DeviceTrainer backend = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(tc.seed())))) {
      TrainingSession session = new TrainingSession(backend, tc, new Rng(tc.seed()));
      double before = session.evaluate(eval, 8);
      ExampleOrder order = new ExampleOrder(train.size(), tc.seed(), true);
      for (int s = 0; s < steps; s++) {
        List<Example> batch = new ArrayList<>();
        for (int j = 0; j < 8; j++) {
          batch.add(train.get(order.at(8L * s + j)));
        }
        session.step(batch);
      }
      return new Task(steps, before, session.evaluate(eval, 8), (System.nanoTime() - t0) / 1e9);
    }
  }

  /** The greedy golden, teacher-forced: how many next-token argmaxes agree, and the first that does not. */
  public record Greedy(int positions, int agreeing, int firstMismatch) {
    public boolean exact() {
      return agreeing == positions;
    }
  }

  /** Reads a whitespace-separated ids file, e.g. {@code greedy_from_bos_200.ids}. */
  public static int[] ids(Path file) {
    try {
      return Arrays.stream(Files.readString(file).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
  }

  /**
   * Feeds the golden sequence and checks that at every position the base model's argmax is the
   * golden next token: the free-running greedy decode reproduces it exactly iff all agree.
   */
  public static Greedy greedy(DeviceTransformer model, int[] golden) {
    int[] prefix = Arrays.copyOf(golden, golden.length - 1);
    float[] logits = model.logits(null, prefix);
    int v = model.model().config().vocabSize();
    int agree = 0;
    int first = -1;
    for (int t = 0; t < prefix.length; t++) {
      int best = 0;
      for (int j = 1; j < v; j++) {
        if (logits[t * v + j] > logits[t * v + best]) {
          best = j;
        }
      }
      if (best == golden[t + 1]) {
        agree++;
      } else if (first < 0) {
        first = t + 1;
      }
    }
    return new Greedy(prefix.length, agree, first);
  }
}
