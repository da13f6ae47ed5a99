package io.bonestream.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.device.DeviceCheck;
import io.bonestream.engine.backend.device.JavaDevice;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModel;
import io.bonestream.engine.train.Trainer;
import io.bonestream.engine.util.Threads;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The CPU device against the Java reference device, operation by operation ({@link DeviceCheck},
 * on one thread and on two), on shapes large enough to split among threads and to run OpenBLAS
 * multi-threaded; and whole training steps reproducible bit for bit for a thread count.
 */
class CpuDeviceTest {
  @AfterAll
  static void restoreThreads() {
    Threads.configure(Runtime.getRuntime().availableProcessors());
  }

  @ParameterizedTest(name = "{0} threads")
  @ValueSource(ints = {1, 2})
  void everyOperationMatchesTheReference(int threads) {
    Threads.configure(threads);
    List<DeviceCheck.Outcome> out = DeviceCheck.run(CpuDevice.get(), false);
    assertTrue(out.size() > 40, "only " + out.size() + " checks");
    for (DeviceCheck.Outcome o : out) {
      assertTrue(o.ok(), o.toString());
    }
  }

  /**
   * Attention in tiles other than the default (16: many tiles and partial ones at DeviceCheck's
   * sequence lengths, 5 to 150; 64, the default before 128), as {@code kernels --attention --backend
   * cpu} times them, against the reference.
   */
  @ParameterizedTest(name = "tile {0}")
  @ValueSource(ints = {16, 64})
  void attentionInOtherTilesMatchesTheReference(int tile) {
    CpuDevice d = CpuDevice.get();
    d.attentionTile(tile);
    try {
      List<DeviceCheck.Outcome> out = DeviceCheck.run(d, false).stream()
          .filter(o -> o.op().startsWith("attention")).toList();
      assertTrue(out.size() >= 8, "only " + out.size() + " attention checks");
      for (DeviceCheck.Outcome o : out) {
        assertTrue(o.ok(), "tile " + tile + ": " + o);
      }
    } finally {
      d.attentionTile(CpuAttention.TILE);
    }
  }

  @Test
  void theAttentionBenchTimesEveryTileAndTheyAgree() {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    List<CpuAttentionBench.Timing> t = CpuAttentionBench.run("test", 4, 2, 32, 1, 150, 1,
        new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8));
    String text = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(CpuAttentionBench.TILES.length, t.size(), text);
    assertEquals(CpuAttention.TILE, t.get(0).tile());
    assertEquals(CpuAttention.TILE, CpuDevice.get().attentionTile(), "the bench put the tile back");
    for (CpuAttentionBench.Timing x : t) {
      assertTrue(x.forwardSeconds() > 0 && x.backwardSeconds() > 0 && x.forwardGflops() > 0, text);
    }
    // every other tiling within float32 rounding of the default's
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("rel L2: out (\\S+), dq (\\S+), dk (\\S+), dv (\\S+)")
        .matcher(text);
    int lines = 0;
    while (m.find()) {
      lines++;
      for (int g = 1; g <= 4; g++) {
        assertTrue(Double.parseDouble(m.group(g)) < 1e-5, text);
      }
    }
    assertEquals(CpuAttentionBench.TILES.length - 1, lines, text);
  }

  /**
   * A model made from a base model nobody else holds survives garbage collections: its views keep
   * the weights alive and its workspace is freed only when the model itself is unreachable.
   */
  @Test
  void aModelOutlivesItsDroppedBaseModel() throws InterruptedException {
    io.bonestream.engine.backend.device.DeviceTransformer m =
        CpuBackends.model(BaseModel.load(io.bonestream.engine.TestFiles.stories260K()));
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(100);
    }
    for (io.bonestream.engine.backend.device.Goldens.Case c : io.bonestream.engine.backend.device.Goldens.CASES) {
      io.bonestream.engine.backend.device.Goldens.Result r =
          io.bonestream.engine.backend.device.Goldens.train(m, c, io.bonestream.engine.TestFiles.golden());
      assertTrue(r.passesFp32(), c.name() + ": rel L2 " + r.relL2());
      System.gc();
    }
  }

  private static float[] randn(Rng rng, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (2 * rng.nextDouble() - 1);
    }
    return v;
  }

  private static double relL2(float[] a, float[] b) {
    double d = 0;
    double n = 0;
    for (int i = 0; i < a.length; i++) {
      d += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
      n += (double) b[i] * b[i];
    }
    return Math.sqrt(d / n);
  }

  /** Kernels and GEMMs on sizes that take the parallel paths, against the reference. */
  @Test
  void largeShapesTakeTheParallelPathsAndMatch() {
    Threads.configure(2);
    CpuDevice cpu = CpuDevice.get();
    JavaDevice ref = new JavaDevice();
    Rng rng = new Rng(7);
    int rows = 300;
    int dim = 384;
    float[] x = randn(rng, rows * dim);
    float[] w = randn(rng, dim);
    Buf cx = buf(cpu, x);
    Buf rx = buf(ref, x);
    Buf cw = buf(cpu, w);
    Buf rw = buf(ref, w);
    Buf cy = cpu.alloc(DType.F32, (long) rows * dim);
    Buf ry = ref.alloc(DType.F32, (long) rows * dim);
    Buf ci = cpu.alloc(DType.F32, rows);
    Buf ri = ref.alloc(DType.F32, rows);
    cpu.rmsnormForward(cx, cw, 1e-5f, cy, ci, rows, dim);
    ref.rmsnormForward(rx, rw, 1e-5f, ry, ri, rows, dim);
    assertTrue(relL2(cpu.download(cy), ref.download(ry)) < 1e-6, "rmsnorm");
    // a GEMM above the multi-threading threshold, every transposition
    int m = 200;
    int n = 160;
    int k = 256;
    assertTrue((long) m * n * k >= CpuDevice.PARALLEL_GEMM);
    float[] a = randn(rng, m * k);
    float[] b = randn(rng, k * n);
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Buf cc = cpu.alloc(DType.F32, (long) m * n);
        Buf rc = ref.alloc(DType.F32, (long) m * n);
        cpu.gemm(ta, tb, m, n, k, 1f, buf(cpu, a), ta ? m : k, buf(cpu, b), tb ? k : n, 0f, cc, n);
        ref.gemm(ta, tb, m, n, k, 1f, buf(ref, a), ta ? m : k, buf(ref, b), tb ? k : n, 0f, rc, n);
        assertTrue(relL2(cpu.download(cc), ref.download(rc)) < 1e-5, "gemm " + ta + tb);
      }
    }
    // attention-sized batched GEMMs, spread over threads
    int batch = 16;
    float[] qa = randn(rng, batch * 64 * 32);
    float[] ka = randn(rng, batch * 64 * 32);
    Buf cs = cpu.alloc(DType.F32, batch * 64L * 64);
    Buf rs = ref.alloc(DType.F32, batch * 64L * 64);
    cpu.gemmBatched(false, true, 64, 64, 32, 0.5f, buf(cpu, qa), 32, 64 * 32, buf(cpu, ka), 32, 64 * 32, 0f, cs, 64,
        64 * 64, batch);
    ref.gemmBatched(false, true, 64, 64, 32, 0.5f, buf(ref, qa), 32, 64 * 32, buf(ref, ka), 32, 64 * 32, 0f, rs, 64,
        64 * 64, batch);
    assertTrue(relL2(cpu.download(cs), ref.download(rs)) < 1e-5, "gemmBatched");
    // the loss over a vocabulary-wide row set
    int vocab = 5000;
    int crow = 40;
    float[] logits = randn(rng, crow * vocab);
    int[] targets = new int[crow];
    float[] weights = new float[crow];
    for (int i = 0; i < crow; i++) {
      targets[i] = i % 5 == 0 ? -1 : rng.nextInt(vocab);
      weights[i] = 1f;
    }
    Buf cl = cpu.alloc(DType.F32, crow);
    Buf rl = ref.alloc(DType.F32, crow);
    Buf cg = cpu.alloc(DType.F32, (long) crow * vocab);
    Buf rg = ref.alloc(DType.F32, (long) crow * vocab);
    cpu.crossEntropy(buf(cpu, logits), ints(cpu, targets), buf(cpu, weights), 0.5f, cl, cg, crow, vocab);
    ref.crossEntropy(buf(ref, logits), ints(ref, targets), buf(ref, weights), 0.5f, rl, rg, crow, vocab);
    assertTrue(relL2(cpu.download(cl), ref.download(rl)) < 1e-6, "loss");
    assertTrue(relL2(cpu.download(cg), ref.download(rg)) < 1e-5, "dLogits");
    float[] big = randn(rng, 100_003);
    assertEquals(ref.sumOfSquares(buf(ref, big)), cpu.sumOfSquares(buf(cpu, big)), 1e-9 * ref.sumOfSquares(buf(ref, big)));
  }

  private static Buf buf(io.bonestream.engine.device.Device d, float[] v) {
    Buf b = d.alloc(DType.F32, v.length);
    d.upload(v, b);
    return b;
  }

  private static Buf ints(io.bonestream.engine.device.Device d, int[] v) {
    Buf b = d.alloc(DType.I32, v.length);
    d.upload(v, b);
    return b;
  }

  /**
   * Three training steps of a model big enough for every parallel path: the same bytes twice on two
   * threads (and on one), and within float32 rounding of each other across thread counts (OpenBLAS
   * blocks a GEMM by its thread count).
   */
  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"bone", "bat", "lora"})
  void trainingIsReproducibleForAThreadCount(String method) {
    ModelConfig c = RandomModel.config(128, 2, 4, 2, 352, 1000, 256);
    BaseModel base = RandomModel.create(c, DataType.FLOAT, 0.02, 0.0, false, 3);
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.fromId(method)).r(16).build();
    TrainConfig train = TrainConfig.builder().lr(1e-2).batchSize(4).build();
    Rng rng = new Rng(5);
    List<Example> data = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      int[] ids = new int[200];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 3 + rng.nextInt(c.vocabSize() - 3);
      }
      data.add(new Example(ids, ids.clone()));
    }
    float[][] values = new float[3][];
    double[] losses = new double[3];
    int[] threads = {2, 2, 1};
    for (int run = 0; run < 3; run++) {
      Threads.configure(threads[run]);
      try (Trainer t = Trainer.create(base, adapter, train)) {
        for (int s = 0; s < 3; s++) {
          losses[run] += t.step(data).loss();
        }
        values[run] = t.backend().parameters();
      }
    }
    assertEquals(losses[0], losses[1], 0.0, "losses, two runs on two threads");
    assertArrayEquals(values[0], values[1], "adapter values, two runs on two threads");
    assertEquals(losses[0], losses[2], 1e-6 * losses[0], "losses on one and two threads");
    assertTrue(relL2(values[2], values[0]) < 1e-4, "adapter values on one and two threads");
    double norm = 0;
    for (float v : values[0]) {
      norm += v * v;
    }
    assertTrue(norm > 0, "no training happened");
  }
}
