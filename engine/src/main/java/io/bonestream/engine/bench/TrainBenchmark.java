package io.bonestream.engine.bench;

import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.train.Rng;
import io.bonestream.engine.train.TrainConfig;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Times training steps (AdamW, every token a target) on random token batches and this machine's
 * float32 GEMM rate, in one process, with the accounting of the PyTorch reference benchmark:
 * FLOPs per step = tokens · (4 · base + 12 · layers · seq · hidden), base = every weight but the
 * embeddings and norms (forward 2N, input-gradient backward 2N; attention each way).
 */
public final class TrainBenchmark {
  private TrainBenchmark() {}

  public record Result(String model, String method, int r, int batch, int seq, int threads,
      double stepSeconds, double tokensPerSecond, double gemmGflops, double modelGflopsPerSecond,
      double fractionOfGemm, long trainable, long baseParams) {}

  public static Result run(BaseModel base, AdapterConfig adapter, int batch, int seq, int warmup,
      int steps, int threads) {
    Trainer trainer = Trainer.create(base, adapter, TrainConfig.builder().lr(1e-4).maxGradNorm(0)
        .batchSize(batch).maxSeqLen(seq + 1).build());
    Rng rng = new Rng(0);
    List<Example> examples = new ArrayList<>();
    int vocab = base.config().vocabSize();
    for (int b = 0; b < batch; b++) {
      int[] ids = new int[seq];
      for (int t = 0; t < seq; t++) {
        ids[t] = 3 + rng.nextInt(vocab - 3);
      }
      examples.add(new Example(ids, ids.clone()));
    }
    for (int i = 0; i < warmup; i++) {
      trainer.step(examples);
    }
    double[] times = new double[steps];
    for (int i = 0; i < steps; i++) {
      times[i] = trainer.step(examples).seconds();
    }
    double step = median(times);
    double gemm = gemmRate(base.dataType());
    long baseParams = 0;
    for (Map.Entry<String, INDArray> e : base.namedTensors().entrySet()) {
      if (e.getKey().contains("proj") || e.getKey().equals("lm_head.weight")) {
        baseParams += e.getValue().length();
      }
    }
    if (base.lmHead() == base.embedTokens()) {
      baseParams += base.lmHead().length(); // a tied head still costs its GEMMs
    }
    long tokens = (long) batch * seq;
    double flops = tokens * (4.0 * baseParams
        + 12.0 * base.config().numLayers() * seq * base.config().hiddenSize());
    return new Result(base.name(), adapter.method().id(), adapter.r(), batch, seq, threads, step,
        tokens / step, gemm / 1e9, flops / step / 1e9, flops / step / gemm,
        trainer.adapters().parameterCount(), baseParams);
  }

  /** float32 (or the model's type) GEMM at n = 1024, median of 10, after 3 warm-up runs. */
  static double gemmRate(DataType type) {
    int n = 1024;
    INDArray x = Nd4j.randn(type, n, n);
    INDArray y = Nd4j.randn(type, n, n);
    INDArray z = Nd4j.create(type, n, n);
    for (int i = 0; i < 3; i++) {
      Nd4j.gemm(x, y, z, false, false, 1.0, 0.0);
    }
    double[] t = new double[10];
    for (int i = 0; i < t.length; i++) {
      long s = System.nanoTime();
      Nd4j.gemm(x, y, z, false, false, 1.0, 0.0);
      t[i] = (System.nanoTime() - s) / 1e9;
    }
    return 2.0 * n * n * n / median(t);
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
