package io.bonestream.engine.bench;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.train.Trainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;

/**
 * What live adapters cost one JVM (a TaskManager's training operator holds one trainer per live
 * adapter): N trainers of one method on one shared base model, each after one AdamW step, measured
 * as Java heap in use after a full GC, native memory: the adapters' ND4J arrays (their values and
 * gradients; ND4J's CPU backend tracks no allocation, so these are counted from the arrays' lengths),
 * JavaCPP's ({@link Pointer#totalBytes()}) and the CPU device's (counted at each allocation: the
 * optimizer moments, the shared model's workspace), and the process's resident set; and what a checkpoint writes for them: the
 * encoded training states (their bytes, and the time to encode all of them, which a snapshot
 * spends).
 */
public final class MemoryBenchmark {
  private MemoryBenchmark() {}

  /** One measurement with {@code adapters} live trainers. */
  public record Result(String model, String method, int r, int adapters, long parameterBytes, long heapBytes,
      long nativeBytes, long deviceBytes, long rssBytes, long stateBytes, double encodeSeconds) {
    public long total() {
      return heapBytes + nativeBytes + deviceBytes;
    }
  }

  /**
   * Measures with 0 (the base model and workspace alone) and then each count of {@code counts}
   * trainers, adding trainers to the ones already live.
   */
  public static List<Result> run(BaseModel base, AdapterConfig adapter, int batch, int seq, int[] counts) {
    List<Example> examples = TrainBenchmark.examples(base.config().vocabSize(), batch, seq);
    TrainConfig config = TrainConfig.builder().lr(1e-4).batchSize(batch).maxSeqLen(seq + 1).build();
    List<Trainer> live = new ArrayList<>();
    List<Result> out = new ArrayList<>();
    try {
      // the shared part first: the base model's CPU-device model and its workspace
      try (Trainer warm = Trainer.create(base, adapter, config)) {
        warm.step(examples);
      }
      out.add(measure(base, adapter, live));
      for (int n : counts) {
        while (live.size() < n) {
          Trainer t = Trainer.create(base, adapter, config);
          t.step(examples);
          live.add(t);
        }
        out.add(measure(base, adapter, live));
      }
    } finally {
      live.forEach(Trainer::close);
    }
    return out;
  }

  private static Result measure(BaseModel base, AdapterConfig adapter, List<Trainer> live) {
    long stateBytes = 0;
    long start = System.nanoTime();
    for (Trainer t : live) {
      stateBytes += t.encodedState().length;
    }
    double encode = (System.nanoTime() - start) / 1e9;
    long params = live.isEmpty() ? 0 : live.get(0).backend().parameterCount() * 4L * live.size();
    long heap = settledHeap();
    long arrays = 0;
    for (Trainer t : live) {
      arrays += (t.adapters().flatParameters().length() + t.adapters().flatGradients().length()) * 4L;
    }
    return new Result(base.name(), adapter.method().id(), adapter.r(), live.size(), params, heap,
        Pointer.totalBytes() + arrays, CpuDevice.get().allocatedBytes(), rss(), stateBytes, encode);
  }

  /**
   * The Java heap in use after full GCs, once it stops falling (at least 3 GCs, at most 20, 100 ms
   * apart): the smallest reading. Other threads' garbage, and buffers a cleaner frees only after a
   * GC, would otherwise land in one measurement and not the next.
   */
  static long settledHeap() {
    Runtime rt = Runtime.getRuntime();
    long min = Long.MAX_VALUE;
    long device = -1;
    for (int i = 0; i < 20; i++) {
      System.gc();
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      long heap = rt.totalMemory() - rt.freeMemory();
      long nowDevice = CpuDevice.get().allocatedBytes() + Pointer.totalBytes();
      boolean settled = i >= 2 && heap >= min && nowDevice == device;
      min = Math.min(min, heap);
      device = nowDevice;
      if (settled) {
        break;
      }
    }
    return min;
  }

  /** The resident set of this process (Linux), or 0. */
  static long rss() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return 0;
  }
}
