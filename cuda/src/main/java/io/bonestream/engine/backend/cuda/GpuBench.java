package io.bonestream.engine.backend.cuda;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.core.util.Json;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code bonestream bench --backend cuda}: training steps of random-weight models generated on the
 * device, with the accounting of the PyTorch/PEFT reference benchmark ({@code bench_peft_gpu.py}):
 * AdamW lr 1e-4 on the adapter alone, every token a target, the median of the timed steps, model
 * FLOPs = tokens · (4 · base + 12 · layers · seq · hidden) with base = every weight but the
 * embeddings and norms, as a share of the bf16 GEMM rate measured in the same process.
 */
public final class GpuBench {
  private GpuBench() {}

  /** A model shape and its batch, as in the reference benchmark. */
  public record Shape(String name, int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab,
      int batch, int seq, int r) {
    public ModelConfig config() {
      return ModelConfig.fromJson(
          ModelConfig.llamaJson(hidden, intermediate, layers, heads, kvHeads, vocab, Math.max(2048, seq)), name);
    }
  }

  public static final Map<String, Shape> SHAPES = Map.of(
      "25M", new Shape("25M", 512, 1376, 8, 8, 8, 32000, 8, 256, 32),
      "tinyllama-1.1B", new Shape("tinyllama-1.1B", 2048, 5632, 22, 32, 4, 32000, 8, 1024, 64),
      "llama3-8B", new Shape("llama3-8B", 4096, 14336, 32, 32, 8, 128256, 4, 1024, 64));

  public static Shape shape(String name) {
    return find(name).orElseThrow(() ->
        new BonestreamException("unknown bench config '" + name + "' (known: " + KNOWN + ")"));
  }

  /** The names {@link #SHAPES} knows, for messages. */
  public static final String KNOWN = "25M, tinyllama-1.1B, llama3-8B";

  /** A named shape, the name in any case (TinyLlama-1.1B is tinyllama-1.1B). */
  public static Optional<Shape> find(String name) {
    return SHAPES.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(Map.Entry::getValue)
        .findFirst();
  }

  /** One measured configuration. */
  public record Result(String config, String method, int r, String precision, boolean recompute, int batch, int seq,
      double stepSeconds, double tokensPerSecond, double modelTflops, double gemmTflops, double fractionOfGemm,
      double peakGib, double deviceUsedGib, long trainable, long baseParams, double firstLoss, double lastLoss) {
    public String json() {
      ObjectNode n = Json.MAPPER.createObjectNode();
      n.put("impl", "bonestream-cuda");
      n.put("config", config);
      n.put("method", method);
      n.put("r", r);
      n.put("dtype", precision);
      n.put("recompute", recompute);
      n.put("batch", batch);
      n.put("seq", seq);
      n.put("tokens_per_s", Math.round(tokensPerSecond));
      n.put("step_s", Math.round(stepSeconds * 1e4) / 1e4);
      n.put("peak_gib", Math.round(peakGib * 100) / 100.0);
      n.put("device_used_gib", Math.round(deviceUsedGib * 100) / 100.0);
      n.put("trainable", trainable);
      n.put("base_params", baseParams);
      n.put("model_tflops", Math.round(modelTflops * 10) / 10.0);
      n.put("gemm_tflops", Math.round(gemmTflops));
      n.put("frac_of_gemm", Math.round(fractionOfGemm * 1000) / 1000.0);
      n.put("loss_first", Math.round(firstLoss * 1e4) / 1e4);
      n.put("loss_last", Math.round(lastLoss * 1e4) / 1e4);
      return Json.toCompactString(n);
    }
  }

  /** Measures one configuration; {@code gemmTflops} is the bf16 rate measured in this process. */
  public static Result run(Device d, Shape s, AdapterMethod method, int r, Precision precision, int batch, int seq,
      int warmup, int steps, double gemmTflops) {
    return run(d, s, method, r, precision, false, batch, seq, warmup, steps, gemmTflops, null);
  }

  /**
   * As {@link #run}, with activation recomputation when {@code recompute}, and when {@code profile}
   * is given and the device is a GPU, one more step timed operation by operation, its lines written
   * there.
   */
  public static Result run(Device d, Shape s, AdapterMethod method, int r, Precision precision, boolean recompute,
      int batch, int seq, int warmup, int steps, double gemmTflops, java.io.PrintStream profile) {
    ModelConfig c = s.config();
    long baseParams = (long) c.vocabSize() * c.hiddenSize(); // the head
    for (Projection p : Projection.values()) {
      baseParams += (long) c.numLayers() * AdapterLayout.inFeatures(c, p) * AdapterLayout.outFeatures(c, p);
    }
    d.resetPeak();
    DeviceModel dm = DeviceModel.random(d, c, precision, 0.02f, 1);
    try {
      DeviceTransformer model = new DeviceTransformer(dm);
      AdapterConfig ac = AdapterConfig.builder().method(method).r(r).build();
      TrainConfig tc = TrainConfig.builder().lr(1e-4).weightDecay(0.01).maxGradNorm(0).batchSize(batch)
          .maxSeqLen(seq + 1).build();
      AdapterLayout layout = AdapterLayout.of(c, ac);
      Rng rng = new Rng(0);
      List<Example> examples = new ArrayList<>();
      for (int b = 0; b < batch; b++) {
        int[] ids = new int[seq];
        for (int t = 0; t < seq; t++) {
          ids[t] = 3 + rng.nextInt(c.vocabSize() - 3);
        }
        examples.add(new Example(ids, ids.clone()));
      }
      try (DeviceTrainer trainer = DeviceTrainer.open(model, ac, tc, recompute,
          layout.initialValues(new Rng(tc.seed())))) {
        TrainingSession session = new TrainingSession(trainer, tc, new Rng(tc.seed()));
        double first = Double.NaN;
        double last = Double.NaN;
        for (int i = 0; i < warmup; i++) {
          first = i == 0 ? session.step(examples).loss() : first;
        }
        d.synchronize();
        double[] times = new double[steps];
        for (int i = 0; i < steps; i++) {
          long t0 = System.nanoTime();
          last = session.step(examples).loss();
          d.synchronize();
          times[i] = (System.nanoTime() - t0) / 1e9;
        }
        double[] sorted = times.clone();
        Arrays.sort(sorted);
        double step = sorted[steps / 2];
        long tokens = (long) batch * seq;
        double flops = tokens * (4.0 * baseParams + 12.0 * c.numLayers() * seq * c.hiddenSize());
        double used = d instanceof CudaDevice cd ? cd.deviceMemoryUsed() / 1073741824.0 : 0;
        if (profile != null && d instanceof CudaDevice cd) {
          cd.profile(true);
          session.step(examples);
          double total = 0;
          Map<String, Double> ops = cd.profileSeconds();
          for (double v : ops.values()) {
            total += v;
          }
          cd.profile(false);
          profile.printf(java.util.Locale.ROOT, "profile %s %s: %.1f ms with a synchronization per operation "
              + "(%.1f ms without)%n", s.name(), method.id(), total * 1e3, step * 1e3);
          for (Map.Entry<String, Double> e : ops.entrySet()) {
            if (e.getValue() < 2e-5) { // under 0.02 ms: launch noise
              break;
            }
            profile.printf(java.util.Locale.ROOT, "profile   %8.2f ms %5.1f%%  %s%n", e.getValue() * 1e3,
                100 * e.getValue() / total, e.getKey());
          }
        }
        return new Result(s.name(), method.id(), r, precision.id(), recompute, batch, seq, step, tokens / step,
            flops / step / 1e12, gemmTflops, flops / step / 1e12 / gemmTflops, d.peakAllocatedBytes() / 1073741824.0,
            used, layout.size(), baseParams, first, last);
      }
    } finally {
      dm.close();
    }
  }

  /** The bf16 GEMM rate the fractions refer to (n = 8192 on a GPU). */
  public static double bf16Rate(Device d) {
    return GemmRate.measure(d, DType.BF16, d instanceof CudaDevice ? 8192 : 256);
  }
}
