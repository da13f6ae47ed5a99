package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Distance;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code bonestream kernels --attention --backend cpu}: the CPU device's fused causal attention
 * (float32) at a model's heads, forward and backward, with the default tile and the others, each
 * the fastest of {@code reps} timed calls after one warm-up call, and each tiling's relative L2
 * distance to the default's. FLOP/s as {@code kernels --attention} on the GPU counts them: the causal
 * half of the products, forward 4·B·H·T²·hd / 2, backward 2.5× that.
 */
public final class CpuAttentionBench {
  /** The tiles timed: the default first. */
  static final int[] TILES = {CpuAttention.TILE, 64, 256};

  private CpuAttentionBench() {}

  /** One tiling's timing. */
  public record Timing(int tile, double forwardSeconds, double backwardSeconds, double forwardFlops) {
    public double forwardGflops() {
      return forwardFlops / forwardSeconds / 1e9;
    }

    public double backwardGflops() {
      return 2.5 * forwardFlops / backwardSeconds / 1e9;
    }
  }

  /** Times every tiling of {@link #TILES} and prints a line each. */
  public static List<Timing> run(String name, int heads, int kvHeads, int headDim, int batch, int seq, int reps,
      PrintStream out) {
    if (heads % kvHeads != 0 || batch < 1 || seq < 1 || reps < 1 || headDim < 1) {
      throw new IllegalArgumentException("attention bench: " + heads + " heads, " + kvHeads + " kv heads, hd "
          + headDim + ", " + batch + " x " + seq + ", " + reps + " reps");
    }
    CpuDevice d = CpuDevice.get();
    int group = heads / kvHeads;
    long nq = (long) batch * heads * seq * headDim;
    long nkv = (long) batch * kvHeads * seq * headDim;
    float scale = (float) (1 / Math.sqrt(headDim));
    String head = String.format(Locale.ROOT, "attention %s %dx%d, %d heads (%d kv), hd %d, cpu (%d threads)", name,
        batch, seq, heads, kvHeads, headDim, d.threads());
    double forwardFlops = 4.0 * batch * heads * (double) seq * seq * headDim / 2;
    List<Buf> all = new ArrayList<>();
    List<Timing> timings = new ArrayList<>();
    int before = d.attentionTile();
    try {
      Buf q = alloc(d, all, nq);
      Buf k = alloc(d, all, nkv);
      Buf v = alloc(d, all, nkv);
      Buf o = alloc(d, all, nq);
      Buf lse = alloc(d, all, nq / headDim);
      Buf dOut = alloc(d, all, nq);
      Buf dq = alloc(d, all, nq);
      Buf dk = alloc(d, all, nkv);
      Buf dv = alloc(d, all, nkv);
      d.randomNormal(q, 1f, 11);
      d.randomNormal(k, 1f, 12);
      d.randomNormal(v, 1f, 13);
      d.randomNormal(dOut, 1f, 14);
      Runnable forward = () -> d.attentionForward(q, k, v, o, lse, batch, kvHeads, group, seq, headDim, scale);
      Runnable backward = () -> d.attentionBackward(q, k, v, o, dOut, lse, dq, dk, dv, batch, kvHeads, group, seq,
          headDim, scale);
      float[][] first = null;
      for (int tile : TILES) {
        d.attentionTile(tile);
        double f = fastest(reps, forward);
        double b = fastest(reps, backward);
        Timing t = new Timing(tile, f, b, forwardFlops);
        timings.add(t);
        out.printf(Locale.ROOT, "kernels %s: tile %3d%-10s forward %9.2f ms %6.1f GFLOP/s, backward %9.2f ms "
            + "%6.1f GFLOP/s%n", head, tile, tile == CpuAttention.TILE ? " (default)" : "", f * 1e3, t.forwardGflops(),
            b * 1e3, t.backwardGflops());
        forward.run();
        backward.run();
        float[][] result = {d.download(o), d.download(dq), d.download(dk), d.download(dv)};
        if (first == null) {
          first = result;
        } else {
          out.printf(Locale.ROOT, "kernels %s: tile %d vs %d, rel L2: out %.2e, dq %.2e, dk %.2e, dv %.2e%n", head,
              tile, CpuAttention.TILE, Distance.relL2(result[0], first[0]), Distance.relL2(result[1], first[1]),
              Distance.relL2(result[2], first[2]), Distance.relL2(result[3], first[3]));
        }
        out.flush();
      }
    } finally {
      d.attentionTile(before);
      for (Buf b : all) {
        d.free(b);
      }
    }
    return timings;
  }

  /** The fastest of {@code reps} calls, after one. */
  private static double fastest(int reps, Runnable op) {
    op.run();
    double best = Double.MAX_VALUE;
    for (int i = 0; i < reps; i++) {
      long t0 = System.nanoTime();
      op.run();
      best = Math.min(best, (System.nanoTime() - t0) / 1e9);
    }
    return best;
  }

  private static Buf alloc(CpuDevice d, List<Buf> all, long size) {
    Buf b = d.alloc(DType.F32, size);
    all.add(b);
    return b;
  }
}
