package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.backend.device.AttentionWorkload;
import io.bonestream.engine.device.DType;
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
    if (kvHeads < 1 || heads % kvHeads != 0 || batch < 1 || seq < 1 || reps < 1 || headDim < 1) {
      throw new IllegalArgumentException("attention bench: " + heads + " heads, " + kvHeads + " kv heads, hd "
          + headDim + ", " + batch + " x " + seq + ", " + reps + " reps");
    }
    CpuDevice d = CpuDevice.get();
    String head = String.format(Locale.ROOT, "attention %s %dx%d, %d heads (%d kv), hd %d, cpu (%d threads)", name,
        batch, seq, heads, kvHeads, headDim, d.threads());
    List<Timing> timings = new ArrayList<>();
    int before = d.attentionTile();
    try (AttentionWorkload w = new AttentionWorkload(d, DType.F32, batch, kvHeads, heads / kvHeads, seq, headDim, 11)) {
      float[][] first = null;
      for (int tile : TILES) {
        d.attentionTile(tile);
        double f = fastest(reps, w::forward);
        double b = fastest(reps, w::backward);
        Timing t = new Timing(tile, f, b, w.forwardFlops());
        timings.add(t);
        out.printf(Locale.ROOT, "kernels %s: tile %3d%-10s forward %9.2f ms %6.1f GFLOP/s, backward %9.2f ms "
            + "%6.1f GFLOP/s%n", head, tile, tile == CpuAttention.TILE ? " (default)" : "", f * 1e3, t.forwardGflops(),
            b * 1e3, t.backwardGflops());
        float[][] result = w.solve();
        if (first == null) {
          first = result;
        } else {
          out.printf(Locale.ROOT, "kernels %s: tile %d vs %d, rel L2: %s%n", head, tile, CpuAttention.TILE,
              AttentionWorkload.describe(AttentionWorkload.distances(result, first)));
        }
        out.flush();
      }
    } finally {
      d.attentionTile(before);
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
}
