package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.device.Buf;

/**
 * Causal attention on the {@link CpuDevice} in tiles of {@code tile} queries by {@code tile} keys
 * (the device's {@code attentionForward}/{@code attentionBackward}; {@value #TILE} unless a
 * benchmark sets another: {@code bonestream kernels --attention --backend cpu}): the score tiles are
 * OpenBLAS GEMMs on one thread each, the softmax is online (a running maximum and sum per query
 * row, the output rescaled when the maximum grows), and only lse = log Σ exp(scores) per row is
 * kept. The backward pass recomputes each tile's probabilities from q, k and lse. No (T, T) buffer:
 * a thread's scratch is two tiles and a few rows.
 *
 * <p>Layouts (float32): q, out, dOut, dq (B, H, T, hd); k, v, dk, dv (B, Hkv, T, hd); lse (B, H, T);
 * query head h reads key/value head h / G. The forward pass splits (b, h, query tile) among the
 * threads; the backward pass splits (b, kv head), and, when those are fewer than the threads, the
 * query tiles of each into chunks whose key/value gradients are summed afterwards in chunk order.
 * Each output is computed in a fixed order for a given thread count.
 */
final class CpuAttention {
  /**
   * Queries and keys per tile: 128 measured 7–14% faster than 64 over both passes at 8 × 512 to
   * 1 × 4096 (fewer, larger GEMMs; docs/performance.md, "Long sequences").
   */
  static final int TILE = 128;

  private CpuAttention() {}

  /** Native scratch of one thread: two (tile, tile) tiles and tile-long rows. */
  private static final class Scratch implements AutoCloseable {
    final int tile;
    final long s;    // scores, then probabilities             (tile, tile)
    final long dp;   // dP, then dS (backward)                  (tile, tile)
    final long acc;  // the output's running sum (forward)      (tile, hd)
    final float[] max;
    final float[] sum;
    final float[] dot; // D = dOut · out per row (backward)

    Scratch(int tile, int headDim) {
      this.tile = tile;
      max = new float[tile];
      sum = new float[tile];
      dot = new float[tile];
      s = Mem.calloc(4L * tile * tile);
      dp = Mem.calloc(4L * tile * tile);
      acc = Mem.calloc(4L * tile * headDim);
    }

    @Override
    public void close() {
      Mem.free(s);
      Mem.free(dp);
      Mem.free(acc);
    }
  }

  private static long at(long base, long element) {
    return base + (element << 2);
  }

  private static int tiles(int seq, int tile) {
    return (seq + tile - 1) / tile;
  }

  // ---------------------------------------------------------------- forward

  static void forward(CpuDevice cpu, Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group,
      int seq, int hd, float scale) {
    int heads = kvHeads * group;
    int tile = cpu.attentionTile();
    int qTiles = tiles(seq, tile);
    long items = (long) batch * heads * qTiles;
    long work = (long) tile * seq * hd; // multiply-adds of a tile, about
    cpu.onOneBlasThread(() -> cpu.parallel(items, work, (from, to) -> {
      try (Scratch x = new Scratch(tile, hd)) {
        for (long item = from; item < to; item++) {
          long bh = item / qTiles;
          long b = bh / heads;
          long kvHead = b * kvHeads + (bh % heads) / group;
          forwardTile(x, q.pointer(), k.pointer(), v.pointer(), out.pointer(), lse.pointer(), bh, kvHead,
              (int) (item % qTiles) * tile, seq, hd, scale);
        }
      }
    }));
  }

  /** Query rows t0 .. t0 + tile of head bh (= b·H + h) against keys 0 .. t of key/value head kvHead. */
  private static void forwardTile(Scratch x, long qp, long kp, long vp, long op, long lp, long bh, long kvHead,
      int t0, int seq, int hd, float scale) {
    int rows = Math.min(x.tile, seq - t0);
    long qRow0 = (bh * seq + t0) * hd;
    long kv0 = kvHead * seq * hd;
    java.util.Arrays.fill(x.max, Float.NEGATIVE_INFINITY);
    java.util.Arrays.fill(x.sum, 0f);
    Mem.zero(x.acc, 4L * rows * hd);
    for (int j0 = 0; j0 < t0 + rows; j0 += x.tile) {
      int cols = Math.min(x.tile, t0 + rows - j0); // keys of this tile some row sees
      // S (rows, cols) = scale · Q Kᵀ
      CpuDevice.sgemm(false, true, rows, cols, hd, scale, at(qp, qRow0), hd, at(kp, kv0 + (long) j0 * hd), hd,
          0f, x.s, x.tile);
      for (int i = 0; i < rows; i++) {
        int seen = Math.min(cols, t0 + i - j0 + 1); // keys j ≤ t in this tile; ≥ 1 since j0 ≤ t0
        long r = (long) i * x.tile;
        float m = x.max[i];
        for (int j = 0; j < seen; j++) {
          m = Math.max(m, Mem.f(x.s, r + j));
        }
        float sum = 0;
        for (int j = 0; j < seen; j++) {
          float p = FastExp.exp(Mem.f(x.s, r + j) - m);
          Mem.f(x.s, r + j, p);
          sum += p;
        }
        for (int j = seen; j < cols; j++) {
          Mem.f(x.s, r + j, 0f);
        }
        if (m != x.max[i]) { // the running maximum grew: rescale what was summed under the old one
          float correction = x.max[i] == Float.NEGATIVE_INFINITY ? 0f : FastExp.exp(x.max[i] - m);
          x.sum[i] *= correction;
          long a = (long) i * hd;
          for (int d = 0; d < hd; d++) {
            Mem.f(x.acc, a + d, Mem.f(x.acc, a + d) * correction);
          }
          x.max[i] = m;
        }
        x.sum[i] += sum;
      }
      // acc (rows, hd) += P V
      CpuDevice.sgemm(false, false, rows, hd, cols, 1f, x.s, x.tile, at(vp, kv0 + (long) j0 * hd), hd, 1f, x.acc, hd);
    }
    for (int i = 0; i < rows; i++) {
      float inv = 1f / x.sum[i];
      long a = (long) i * hd;
      long o = qRow0 + a;
      for (int d = 0; d < hd; d++) {
        Mem.f(op, o + d, Mem.f(x.acc, a + d) * inv);
      }
      Mem.f(lp, bh * seq + t0 + i, x.max[i] + (float) Math.log(x.sum[i]));
    }
  }

  // ---------------------------------------------------------------- backward

  static void backward(CpuDevice cpu, Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv,
      int batch, int kvHeads, int group, int seq, int hd, float scale) {
    int tile = cpu.attentionTile();
    int qTiles = tiles(seq, tile);
    int pairs = batch * kvHeads;
    // query tiles of a kv head (all G heads) split into chunks only when the heads are too few to share
    int chunks = Math.max(1, Math.min(group * qTiles, (cpu.threads() + pairs - 1) / pairs));
    long headSize = (long) seq * hd;
    long partSize = (long) pairs * headSize; // one chunk's dk (then dv): (B, Hkv, T, hd)
    long parts = chunks == 1 ? 0 : Mem.calloc(8L * chunks * partSize);
    try {
      long work = (long) group * qTiles * tile * seq * hd / chunks;
      cpu.onOneBlasThread(() -> cpu.parallel((long) pairs * chunks, work, (from, to) -> {
        try (Scratch x = new Scratch(tile, hd)) {
          for (long item = from; item < to; item++) {
            int pair = (int) (item / chunks);
            int chunk = (int) (item % chunks);
            long dkp = chunks == 1 ? dk.pointer() : at(parts, 2 * chunk * partSize);
            long dvp = chunks == 1 ? dv.pointer() : at(parts, (2L * chunk + 1) * partSize);
            Mem.zero(at(dkp, pair * headSize), 4 * headSize);
            Mem.zero(at(dvp, pair * headSize), 4 * headSize);
            int first = group * qTiles * chunk / chunks;
            int last = group * qTiles * (chunk + 1) / chunks;
            for (int i = first; i < last; i++) { // (g, query tile) in order
              int b = pair / kvHeads;
              long bh = (long) b * kvHeads * group + (long) (pair % kvHeads) * group + i / qTiles;
              backwardTile(x, q.pointer(), k.pointer(), v.pointer(), out.pointer(), dOut.pointer(), lse.pointer(),
                  dq.pointer(), dkp, dvp, bh, pair, (i % qTiles) * tile, seq, hd, scale);
            }
          }
        }
      }));
      if (chunks > 1) {
        sumChunks(cpu, parts, chunks, partSize, dk.pointer(), dv.pointer());
      }
    } finally {
      if (parts != 0) {
        Mem.free(parts);
      }
    }
  }

  /** dk = Σ_c part[c].dk, dv = Σ_c part[c].dv, c in order. */
  private static void sumChunks(CpuDevice cpu, long parts, int chunks, long partSize, long dkp, long dvp) {
    cpu.parallel(partSize, 2L * chunks, (from, to) -> {
      for (long e = from; e < to; e++) {
        float sk = 0;
        float sv = 0;
        for (int c = 0; c < chunks; c++) {
          sk += Mem.f(parts, 2 * c * partSize + e);
          sv += Mem.f(parts, (2L * c + 1) * partSize + e);
        }
        Mem.f(dkp, e, sk);
        Mem.f(dvp, e, sv);
      }
    });
  }

  /**
   * The gradients of query rows t0 .. t0 + tile of head bh: its dq rows (written), and their terms
   * of dk, dv of key/value head {@code kvHead} (added).
   */
  private static void backwardTile(Scratch x, long qp, long kp, long vp, long op, long dop, long lp, long dqp,
      long dkp, long dvp, long bh, long kvHead, int t0, int seq, int hd, float scale) {
    int rows = Math.min(x.tile, seq - t0);
    long qRow0 = (bh * seq + t0) * hd;
    long kv0 = kvHead * seq * hd;
    for (int i = 0; i < rows; i++) { // D = rowsum(dOut ∘ out)
      long r = qRow0 + (long) i * hd;
      float dot = 0;
      for (int d = 0; d < hd; d++) {
        dot += Mem.f(dop, r + d) * Mem.f(op, r + d);
      }
      x.dot[i] = dot;
    }
    Mem.zero(at(dqp, qRow0), 4L * rows * hd);
    for (int j0 = 0; j0 < t0 + rows; j0 += x.tile) {
      int cols = Math.min(x.tile, t0 + rows - j0);
      long kj = kv0 + (long) j0 * hd;
      // P = exp(scale · Q Kᵀ − lse), 0 above the diagonal
      CpuDevice.sgemm(false, true, rows, cols, hd, scale, at(qp, qRow0), hd, at(kp, kj), hd, 0f, x.s, x.tile);
      for (int i = 0; i < rows; i++) {
        int seen = Math.min(cols, t0 + i - j0 + 1);
        long r = (long) i * x.tile;
        float l = Mem.f(lp, bh * seq + t0 + i);
        for (int j = 0; j < seen; j++) {
          Mem.f(x.s, r + j, FastExp.exp(Mem.f(x.s, r + j) - l));
        }
        for (int j = seen; j < cols; j++) {
          Mem.f(x.s, r + j, 0f);
        }
      }
      // dV (cols, hd) += Pᵀ dO; dP (rows, cols) = dO Vᵀ
      CpuDevice.sgemm(true, false, cols, hd, rows, 1f, x.s, x.tile, at(dop, qRow0), hd, 1f, at(dvp, kj), hd);
      CpuDevice.sgemm(false, true, rows, cols, hd, 1f, at(dop, qRow0), hd, at(vp, kj), hd, 0f, x.dp, x.tile);
      // dS = P (dP − D) · scale
      for (int i = 0; i < rows; i++) {
        long r = (long) i * x.tile;
        float dot = x.dot[i];
        for (int j = 0; j < cols; j++) {
          Mem.f(x.dp, r + j, Mem.f(x.s, r + j) * (Mem.f(x.dp, r + j) - dot) * scale);
        }
      }
      // dQ (rows, hd) += dS K; dK (cols, hd) += dSᵀ Q
      CpuDevice.sgemm(false, false, rows, hd, cols, 1f, x.dp, x.tile, at(kp, kj), hd, 1f, at(dqp, qRow0), hd);
      CpuDevice.sgemm(true, false, cols, hd, rows, 1f, x.dp, x.tile, at(qp, qRow0), hd, 1f, at(dkp, kj), hd);
    }
  }
}
