package io.bonestream.engine.backend.cuda;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Distance;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
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
    int group = heads / kvHeads;
    int hd = s.hidden() / heads;
    long nq = (long) batch * heads * seq * hd;
    long nkv = (long) batch * kvHeads * seq * hd;
    float scale = (float) (1 / Math.sqrt(hd));
    String head = String.format(Locale.ROOT, "attention %s %dx%d, %d heads (%d kv), hd %d", s.name(), batch, seq,
        heads, kvHeads, hd);
    out.println("device: " + d.describe());
    List<Buf> all = new ArrayList<>();
    try {
      Buf q = alloc(d, all, DType.BF16, nq);
      Buf k = alloc(d, all, DType.BF16, nkv);
      Buf v = alloc(d, all, DType.BF16, nkv);
      Buf o = alloc(d, all, DType.BF16, nq);
      Buf lse = alloc(d, all, DType.F32, nq / hd);
      Buf dOut = alloc(d, all, DType.BF16, nq);
      Buf dq = alloc(d, all, DType.F32, nq);
      Buf dk = alloc(d, all, DType.F32, nkv);
      Buf dv = alloc(d, all, DType.F32, nkv);
      d.randomNormal(q, 1f, 11);
      d.randomNormal(k, 1f, 12);
      d.randomNormal(v, 1f, 13);
      d.randomNormal(dOut, 1f, 14);
      double forwardFlops = 4.0 * batch * heads * (double) seq * seq * hd / 2;
      Runnable forward = () -> d.attentionForward(q, k, v, o, lse, batch, kvHeads, group, seq, hd, scale);
      Runnable backward = () -> d.attentionBackward(q, k, v, o, dOut, lse, dq, dk, dv, batch, kvHeads, group, seq, hd,
          scale);
      float[][] first = null;
      int rowsBefore = d.attentionRowsPerWarp();
      // tensor cores with 16 and 32 query rows per warp, then CUDA cores
      for (int variant = 0; variant < 3; variant++) {
        boolean onTensorCores = variant < 2;
        d.allowTensorCoreAttention(onTensorCores);
        if (onTensorCores) {
          d.attentionRowsPerWarp(variant == 0 ? 16 : 32);
          if (!d.usesTensorCoreAttention(hd, q)) {
            out.println("kernels " + head + ": tensor-core kernels not used here (" + d.describe() + ")");
            variant++;
            continue;
          }
        }
        // the CUDA-core kernels are far slower at long sequences: fewer repetitions
        int n = onTensorCores ? reps : Math.max(1, reps / 5);
        String path = !onTensorCores ? "CUDA cores"
            : variant == 0 ? "tensor cores, 16 rows/warp" : "tensor cores, 32 rows/warp" + (hd == 64 ? "" : " (dq 16)");
        double f = KernelBench.time(d, n, forward);
        double b = KernelBench.time(d, n, backward);
        out.printf(Locale.ROOT, "kernels %s: %-36s forward %9.3f ms %6.1f TFLOP/s, backward %9.3f ms %6.1f TFLOP/s%n",
            head, path, f * 1e3, forwardFlops / f / 1e12, b * 1e3, 2.5 * forwardFlops / b / 1e12);
        forward.run();
        backward.run();
        float[][] result = {d.download(o), d.download(dq), d.download(dk), d.download(dv)};
        if (first == null) {
          first = result;
        } else {
          out.printf(Locale.ROOT, "kernels %s: %s vs tensor cores, 16 rows/warp, rel L2: out %.2e, dq %.2e, dk %.2e, "
              + "dv %.2e%n", head, path, Distance.relL2(result[0], first[0]),
              Distance.relL2(result[1], first[1]), Distance.relL2(result[2], first[2]),
              Distance.relL2(result[3], first[3]));
        }
        out.flush();
      }
      d.attentionRowsPerWarp(rowsBefore);
    } finally {
      d.allowTensorCoreAttention(true);
      for (Buf b : all) {
        d.free(b);
      }
    }
  }

  private static Buf alloc(CudaDevice d, List<Buf> all, DType type, long size) {
    Buf b = d.alloc(type, size);
    all.add(b);
    return b;
  }
}
