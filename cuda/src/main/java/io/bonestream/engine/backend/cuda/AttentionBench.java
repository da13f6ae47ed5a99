package io.bonestream.engine.backend.cuda;

import io.bonestream.engine.backend.device.AttentionWorkload;
import io.bonestream.engine.device.DType;
import java.io.PrintStream;
import java.util.Locale;

/**
 * {@code bonestream kernels --attention}: the fused causal attention of a bench shape (bf16, its
 * heads, key/value heads and head dimension, at the given batch and sequence length), forward and
 * backward, on the tensor-core kernels (16 and 32 query rows per warp) and on the CUDA-core ones,
 * each timed over back-to-back launches, with the relative L2 distance of each to the first. FLOP/s count the causal
 * half of the products: forward 4·B·H·T²·hd / 2, backward 2.5× that (the convention of
 * FlashAttention's benchmarks, so that the figures compare with PyTorch's SDPA backends measured by
 * gpu/peer/bench_sdpa.py).
 */
final class AttentionBench {
  private AttentionBench() {}

  static void run(CudaDevice d, GpuBench.Shape s, int batch, int seq, int reps, PrintStream out) {
    int heads = s.heads();
    int kvHeads = s.kvHeads();
    int hd = s.hidden() / heads;
    String head = String.format(Locale.ROOT, "attention %s %dx%d, %d heads (%d kv), hd %d", s.name(), batch, seq,
        heads, kvHeads, hd);
    out.println("device: " + d.describe());
    int rowsBefore = d.attentionRowsPerWarp();
    try (AttentionWorkload w = new AttentionWorkload(d, DType.BF16, batch, kvHeads, heads / kvHeads, seq, hd, 11)) {
      float[][] first = null;
      // tensor cores with 16 and 32 query rows per warp, then CUDA cores
      for (int variant = 0; variant < 3; variant++) {
        boolean onTensorCores = variant < 2;
        d.allowTensorCoreAttention(onTensorCores);
        if (onTensorCores) {
          d.attentionRowsPerWarp(variant == 0 ? 16 : 32);
          if (!d.usesTensorCoreAttention(hd, w.q())) {
            out.println("kernels " + head + ": tensor-core kernels not used here (" + d.describe() + ")");
            variant++;
            continue;
          }
        }
        // the CUDA-core kernels are far slower at long sequences: fewer repetitions
        int n = onTensorCores ? reps : Math.max(1, reps / 5);
        String path = !onTensorCores ? "CUDA cores"
            : variant == 0 ? "tensor cores, 16 rows/warp" : "tensor cores, 32 rows/warp" + (hd == 64 ? "" : " (dq 16)");
        double f = KernelBench.time(d, n, w::forward);
        double b = KernelBench.time(d, n, w::backward);
        out.printf(Locale.ROOT, "kernels %s: %-36s forward %9.3f ms %6.1f TFLOP/s, backward %9.3f ms %6.1f TFLOP/s%n",
            head, path, f * 1e3, w.forwardFlops() / f / 1e12, b * 1e3, 2.5 * w.forwardFlops() / b / 1e12);
        float[][] result = w.solve();
        if (first == null) {
          first = result;
        } else {
          out.printf(Locale.ROOT, "kernels %s: %s vs tensor cores, 16 rows/warp, rel L2: %s%n", head, path,
              AttentionWorkload.describe(AttentionWorkload.distances(result, first)));
        }
        out.flush();
      }
    } finally {
      d.attentionRowsPerWarp(rowsBefore);
      d.allowTensorCoreAttention(true);
    }
  }
}
