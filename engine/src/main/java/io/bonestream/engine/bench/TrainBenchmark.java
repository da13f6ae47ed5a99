package io.bonestream.engine.bench;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.backend.cpu.CpuBackends;
import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.backend.device.TimedDevice;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModel;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Times training steps (AdamW lr 1e-4, no clipping, every token a target) on random token batches
 * and this machine's float32 GEMM rate, in one process, with the accounting of the PyTorch
 * reference benchmark ({@code bench_torch.py}): FLOPs per step = tokens · (4 · base + 12 · layers ·
 * seq · hidden), base = every weight but the embeddings and norms (forward 2N, input-gradient
 * backward 2N; attention each way). The GEMM rate is OpenBLAS's at n = 1024 on the configured
 * threads, as the reference measures PyTorch's.
 */
public final class TrainBenchmark {
  private TrainBenchmark() {}

  /** A random model shape and its batch. */
  public record Shape(String name, int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab,
      int batch, int seq, int r) {
    public ModelConfig config() {
      return RandomModel.config(hidden, layers, heads, kvHeads, intermediate, vocab, Math.max(2048, seq));
    }

    public Shape with(int batch, int seq, int r) {
      return new Shape(name, hidden, intermediate, layers, heads, kvHeads, vocab, batch, seq, r);
    }

    /** The shape of a model folder's config, with a batch. */
    public static Shape of(String name, ModelConfig c, int batch, int seq, int r) {
      return new Shape(name, c.hiddenSize(), c.intermediateSize(), c.numLayers(), c.numHeads(), c.numKvHeads(),
          c.vocabSize(), batch, seq, r);
    }
  }

  /** The random CPU shapes: the reference's 25M model and a 110M one (GPT-2/BERT-base sized). */
  public static final Map<String, Shape> SHAPES = Map.of(
      "25M", new Shape("25M", 512, 1376, 8, 8, 8, 32000, 8, 256, 32),
      "110M", new Shape("110M", 768, 2048, 12, 12, 12, 32000, 4, 256, 32));

  public static Shape shape(String name) {
    // the name in any case, as GpuBench's shapes
    Shape s = SHAPES.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(Map.Entry::getValue)
        .findFirst().orElse(null);
    if (s == null) {
      throw new BonestreamException("unknown bench config '" + name + "' (known: stories260K, 25M, 110M)");
    }
    return s;
  }

  public record Result(String model, String backend, String method, int r, int batch, int seq, int threads,
      double stepSeconds, double tokensPerSecond, double gemmGflops, double modelGflopsPerSecond,
      double fractionOfGemm, long trainable, long baseParams, double[] stepTimes) {}

  /** The time of one step by operation (the CPU device's), and the whole step's. */
  public record Profile(double stepSeconds, Map<String, TimedDevice.Tally> operations) {}

  /** A random float32 model of {@code shape} (weights N(0, 0.02²)), deterministic. */
  public static BaseModel randomModel(Shape shape) {
    return RandomModel.create(shape.config(), DataType.FLOAT, 0.02, 0.0, false, 0);
  }

  /** {@code batch} random sequences of {@code seq} tokens, every token a target. */
  public static List<Example> examples(int vocab, int batch, int seq) {
    Rng rng = new Rng(0);
    List<Example> examples = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      int[] ids = new int[seq];
      for (int t = 0; t < seq; t++) {
        ids[t] = 3 + rng.nextInt(vocab - 3);
      }
      examples.add(new Example(ids, ids.clone()));
    }
    return examples;
  }

  private static TrainConfig trainConfig(int batch, int seq) {
    return TrainConfig.builder().lr(1e-4).maxGradNorm(0).batchSize(batch).maxSeqLen(seq + 1).build();
  }

  /** Times {@code steps} steps after {@code warmup} on the backend {@code factory} opens. */
  public static Result run(BaseModel base, AdapterConfig adapter, int batch, int seq, int warmup, int steps,
      int threads, BackendFactory factory, String backend) {
    List<Example> examples = examples(base.config().vocabSize(), batch, seq);
    double[] times = new double[steps];
    long trainable;
    try (Trainer trainer = Trainer.create(base, adapter, trainConfig(batch, seq), factory)) {
      for (int i = 0; i < warmup; i++) {
        trainer.step(examples);
      }
      for (int i = 0; i < steps; i++) {
        times[i] = trainer.step(examples).seconds();
      }
      trainable = trainer.backend().parameterCount();
    }
    double step = median(times);
    double gemm = gemmRate();
    long baseParams = baseParams(base);
    long tokens = (long) batch * seq;
    double flops = tokens * (4.0 * baseParams
        + 12.0 * base.config().numLayers() * seq * base.config().hiddenSize());
    return new Result(base.name(), backend, adapter.method().id(), adapter.r(), batch, seq, threads, step,
        tokens / step, gemm / 1e9, flops / step / 1e9, flops / step / gemm, trainable, baseParams, times);
  }

  /**
   * One step on the CPU device, timed operation by operation (after a warm-up step), recomputing
   * activations in the backward pass when {@code recompute}.
   */
  public static Profile profile(BaseModel base, AdapterConfig adapter, int batch, int seq, boolean recompute) {
    TimedDevice timed = new TimedDevice(CpuDevice.get());
    DeviceTransformer model = CpuBackends.model(base, timed);
    BackendFactory factory = (b, a, c) -> DeviceTrainer.open(model, a.config(), c, recompute,
        a.flatParameters().castTo(DataType.FLOAT).dup().data().asFloat());
    List<Example> examples = examples(base.config().vocabSize(), batch, seq);
    try (Trainer trainer = Trainer.create(base, adapter, trainConfig(batch, seq), factory)) {
      trainer.step(examples);
      timed.reset();
      double seconds = trainer.step(examples).seconds();
      return new Profile(seconds, timed.tallies());
    } finally {
      model.model().close();
    }
  }

  /** Every weight but the embeddings and norms (a tied head counted: it costs its GEMMs). */
  static long baseParams(BaseModel base) {
    long n = 0;
    for (Map.Entry<String, INDArray> e : base.namedTensors().entrySet()) {
      if (e.getKey().contains("proj") || e.getKey().equals("lm_head.weight")) {
        n += e.getValue().length();
      }
    }
    if (base.lmHead() == base.embedTokens()) {
      n += base.lmHead().length();
    }
    return n;
  }

  /** float32 GEMM at n = 1024 through the CPU device (OpenBLAS, all threads): median of 10, after 3. */
  public static double gemmRate() {
    int n = 1024;
    CpuDevice d = CpuDevice.get();
    Buf x = d.alloc(DType.F32, (long) n * n);
    Buf y = d.alloc(DType.F32, (long) n * n);
    Buf z = d.alloc(DType.F32, (long) n * n);
    try {
      d.randomNormal(x, 1f, 1);
      d.randomNormal(y, 1f, 2);
      double[] t = new double[13];
      for (int i = 0; i < t.length; i++) {
        long s = System.nanoTime();
        d.gemm(false, false, n, n, n, 1f, x, n, y, n, 0f, z, n);
        t[i] = (System.nanoTime() - s) / 1e9;
      }
      return 2.0 * n * n * n / median(Arrays.copyOfRange(t, 3, t.length));
    } finally {
      d.free(x);
      d.free(y);
      d.free(z);
    }
  }

  public static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  /** Operations by total time, largest first. */
  public static Map<String, TimedDevice.Tally> byTime(Map<String, TimedDevice.Tally> ops) {
    Map<String, TimedDevice.Tally> out = new LinkedHashMap<>();
    ops.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue().nanos(), a.getValue().nanos()))
        .forEach(e -> out.put(e.getKey(), e.getValue()));
    return out;
  }
}
