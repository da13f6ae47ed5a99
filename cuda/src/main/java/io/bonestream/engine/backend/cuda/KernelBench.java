package io.bonestream.engine.backend.cuda;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Distance;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code bonestream kernels}: the memory-bound kernels of a {@code bat} step on the projection shapes
 * of a bench config, each variant timed over back-to-back launches and reported as bytes moved per
 * second beside a device-to-device copy of the same weight (the ceiling). Variants of the merge must
 * give the same bits as the first one-pass kernel; the two ways of computing dB are compared by
 * relative L2 distance. Last, how much of a merge on the side stream hides behind the forward GEMM
 * of the same weight on the main one (the bench shape's tokens), when the device has a side stream.
 */
final class KernelBench {
  private KernelBench() {}

  static void run(CudaDevice d, GpuBench.Shape s, int r, int reps, PrintStream out) {
    int kv = s.hidden() / s.heads() * s.kvHeads();
    Map<String, int[]> shapes = new LinkedHashMap<>();
    shapes.put("q/o", new int[] {s.hidden(), s.hidden()});
    shapes.put("k/v", new int[] {kv, s.hidden()});
    shapes.put("gate/up", new int[] {s.intermediate(), s.hidden()});
    shapes.put("down", new int[] {s.hidden(), s.intermediate()});
    out.println("device: " + d.describe());
    for (Map.Entry<String, int[]> e : shapes.entrySet()) {
      int outF = e.getValue()[0];
      int inF = e.getValue()[1];
      if (outF % r != 0 || inF % r != 0) {
        out.printf(Locale.ROOT, "%s %dx%d: not a multiple of r %d, skipped%n", e.getKey(), outF, inF, r);
        continue;
      }
      one(d, s.name() + " " + e.getKey(), (long) s.batch() * s.seq(), outF, inF, r, reps, out);
    }
  }

  private static void one(CudaDevice d, String label, long rows, int outF, int inF, int r, int reps,
      PrintStream out) {
    long size = (long) outF * inF;
    Buf w = d.alloc(DType.BF16, size);
    Buf m = d.alloc(DType.BF16, size);
    Buf blocks = d.alloc(DType.F32, (long) outF * r);
    Buf blocksAct = d.alloc(DType.BF16, (long) outF * r);
    Buf merged = d.alloc(DType.BF16, size);
    Buf reference = d.alloc(DType.BF16, size);
    Buf dB = d.alloc(DType.F32, (long) outF * r);
    try {
      d.randomNormal(w, 0.02f, 1);
      d.randomNormal(m, 1f, 2);
      d.randomNormal(blocks, 0.1f, 3);
      d.copy(blocks, blocksAct);
      double twoWay = 2.0 * size * 2; // bf16 read once and written (or read) once
      String head = String.format(Locale.ROOT, "%s %dx%d r %d", label, outF, inF, r);
      report(out, head, "copy (ceiling)", twoWay, time(d, reps, () -> d.copy(w, merged)), null);
      d.mergeFirstKernel(w, blocks, blocksAct, reference, outF, inF, r);
      float[] expected = d.download(reference);
      report(out, head, "merge first one-pass kernel", twoWay,
          time(d, reps, () -> d.mergeFirstKernel(w, blocks, blocksAct, merged, outF, inF, r)), null);
      // two passes: w read and merged written, then the batched GEMM reads both and writes merged
      report(out, head, "merge two passes", 5.0 * size * 2,
          time(d, reps, () -> d.mergeTwoPasses(w, blocks, blocksAct, merged, outF, inF, r)), null);
      if (r != 128) {
        int auto = CudaDevice.tilesPerWarp(outF, inF, r);
        for (int tiles : new java.util.TreeSet<>(List.of(auto, 1, 2, 4, 8, 16))) {
          d.copy(w, merged);
          d.mergePipelined(w, blocks, blocksAct, merged, outF, inF, r, tiles);
          String same = java.util.Arrays.equals(expected, d.download(merged)) ? "same bits" : "DIFFERENT BITS";
          report(out, head, "merge pipe tiles/warp " + tiles + (tiles == auto ? " (default)" : ""), twoWay,
              time(d, reps, () -> d.mergePipelined(w, blocks, blocksAct, merged, outF, inF, r, tiles)), same);
        }
      }
      d.copy(blocks, dB);
      d.blockGradTwoPasses(w, m, dB, outF, inF, r);
      float[] two = d.download(dB);
      report(out, head, "dB two passes (batched GEMM + identity)", twoWay,
          time(d, reps, () -> d.blockGradTwoPasses(w, m, dB, outF, inF, r)), null);
      for (int blocksTarget : new int[] {1024, 2048, 4096}) {
        d.copy(blocks, dB);
        d.blockGradOnePass(w, m, dB, outF, inF, r, blocksTarget);
        String dist = String.format(Locale.ROOT, "rel L2 to two passes %.2e", Distance.relL2(d.download(dB), two));
        report(out, head, "dB one pass, about " + blocksTarget + " blocks", twoWay,
            time(d, reps, () -> d.blockGradOnePass(w, m, dB, outF, inF, r, blocksTarget)), dist);
      }
      if (d.hasSideStream()) {
        beside(d, head, rows, w, blocks, blocksAct, merged, reference, outF, inF, r, reps, out);
      }
    } finally {
      for (Buf b : new Buf[] {w, m, blocks, blocksAct, merged, reference, dB}) {
        d.free(b);
      }
    }
  }

  /**
   * The merge (W, blocks into {@code merged}) on the side stream while the forward GEMM y (N, O) =
   * x (N, I) · W'ᵀ of another merged weight {@code other} runs on the main one, {@code reps} of each
   * launched without waits between the streams, against each alone: the share of the merge's own
   * time that running beside the GEMM hides.
   */
  private static void beside(CudaDevice d, String head, long rows, Buf w, Buf blocks, Buf blocksAct, Buf merged,
      Buf other, int outF, int inF, int r, int reps, PrintStream out) {
    int n = (int) Math.min(rows, Integer.MAX_VALUE / Math.max(inF, outF));
    Buf x = d.alloc(DType.BF16, (long) n * inF);
    Buf y = d.alloc(DType.BF16, (long) n * outF);
    try {
      d.randomNormal(x, 1f, 4);
      Runnable gemm = () -> d.gemm(false, true, n, outF, inF, 1f, x, inF, other, inF, 0f, y, outF);
      Runnable merge = () -> d.batMerge(w, blocks, blocksAct, merged, outF, inF, r);
      double g = time(d, reps, gemm);
      double m = time(d, reps, merge);
      double both = time(d, reps, () -> {
        gemm.run();
        d.onSide(merge);
      });
      out.printf(Locale.ROOT, "kernels %s: GEMM %dx%dx%d %.1f us, merge %.1f us, both at once %.1f us: "
          + "%.0f%% of the merge hidden%n", head, n, outF, inF, g * 1e6, m * 1e6, both * 1e6, 100 * (g + m - both) / m);
      out.flush();
    } finally {
      d.free(x);
      d.free(y);
    }
  }

  /** Seconds per run of {@code op} over {@code reps} back-to-back runs after one warm-up (also AttentionBench's). */
  static double time(CudaDevice d, int reps, Runnable op) {
    op.run(); // warm-up
    d.synchronize();
    long t0 = System.nanoTime();
    for (int i = 0; i < reps; i++) {
      op.run();
    }
    d.synchronize();
    return (System.nanoTime() - t0) / 1e9 / reps;
  }

  private static void report(PrintStream out, String head, String what, double bytes, double seconds, String note) {
    out.printf(Locale.ROOT, "kernels %s: %-42s %8.1f us %7.2f TB/s%s%n", head, what, seconds * 1e6,
        bytes / seconds / 1e12, note == null ? "" : "  " + note);
    out.flush();
  }
}
