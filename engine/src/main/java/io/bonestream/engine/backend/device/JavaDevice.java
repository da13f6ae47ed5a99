package io.bonestream.engine.backend.device;

import io.bonestream.engine.device.Bf16;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.RandomNormal;

/**
 * The reference device: every operation as plain Java loops over float arrays, BF16 values
 * rounded on each store as the GPU stores them. Slow, and exact about what each operation means:
 * the GPU kernels are tested against it, and it runs the device backend's logic on any machine.
 */
public class JavaDevice implements Device {
  private long allocated;
  private long peak;

  @Override
  public String describe() {
    return "java reference device (" + Runtime.getRuntime().availableProcessors() + " cores)";
  }

  // ------------------------------------------------------------------ memory

  @Override
  public Buf alloc(DType type, long size) {
    int n = Math.toIntExact(size);
    Object a = type == DType.I32 ? new int[n] : new float[n];
    allocated += size * type.bytes();
    peak = Math.max(peak, allocated);
    return Buf.ofArray(a, type, size);
  }

  @Override
  public void free(Buf buf) {
    allocated -= buf.size() * buf.type().bytes();
  }

  @Override
  public long allocatedBytes() {
    return allocated;
  }

  @Override
  public long peakAllocatedBytes() {
    return peak;
  }

  @Override
  public void resetPeak() {
    peak = allocated;
  }

  private static float[] f(Buf b) {
    return (float[]) b.array();
  }

  private static int[] ints(Buf b) {
    return (int[]) b.array();
  }

  private static int o(Buf b) {
    return (int) b.offset();
  }

  /** Stores v into element i of b, rounding for BF16. */
  private static void st(Buf b, long i, float v) {
    f(b)[(int) (b.offset() + i)] = b.type() == DType.BF16 ? Bf16.round(v) : v;
  }

  private static float ld(Buf b, long i) {
    return f(b)[(int) (b.offset() + i)];
  }

  @Override
  public void upload(float[] src, Buf dst) {
    check(src.length == dst.size(), "upload length");
    for (int i = 0; i < src.length; i++) {
      st(dst, i, src[i]);
    }
  }

  @Override
  public void upload(int[] src, Buf dst) {
    check(src.length == dst.size() && dst.type() == DType.I32, "upload ints");
    System.arraycopy(src, 0, ints(dst), o(dst), src.length);
  }

  @Override
  public float[] download(Buf src) {
    float[] out = new float[Math.toIntExact(src.size())];
    System.arraycopy(f(src), o(src), out, 0, out.length);
    return out;
  }

  @Override
  public void copy(Buf src, Buf dst) {
    check(src.size() == dst.size(), "copy length");
    for (long i = 0; i < src.size(); i++) {
      st(dst, i, ld(src, i));
    }
  }

  @Override
  public void zero(Buf buf) {
    if (buf.type() == DType.I32) {
      java.util.Arrays.fill(ints(buf), o(buf), o(buf) + (int) buf.size(), 0);
    } else {
      java.util.Arrays.fill(f(buf), o(buf), o(buf) + (int) buf.size(), 0f);
    }
  }

  @Override
  public void synchronize() {}

  // ------------------------------------------------------------------ GEMM

  @Override
  public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      Buf b, int ldb, float beta, Buf c, int ldc) {
    check(a.type() == b.type(), "gemm operand types");
    float[] av = f(a);
    float[] bv = f(b);
    int ao = o(a);
    int bo = o(b);
    float[] row = new float[n];
    for (int i = 0; i < m; i++) {
      java.util.Arrays.fill(row, 0f);
      for (int p = 0; p < k; p++) {
        float x = transA ? av[ao + p * lda + i] : av[ao + i * lda + p];
        if (transB) {
          for (int j = 0; j < n; j++) {
            row[j] += x * bv[bo + j * ldb + p];
          }
        } else {
          int base = bo + p * ldb;
          for (int j = 0; j < n; j++) {
            row[j] += x * bv[base + j];
          }
        }
      }
      for (int j = 0; j < n; j++) {
        long ci = (long) i * ldc + j;
        float v = alpha * row[j];
        st(c, ci, beta == 0f ? v : v + beta * ld(c, ci));
      }
    }
  }

  @Override
  public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
      Buf a, int lda, long strideA, Buf b, int ldb, long strideB, float beta, Buf c, int ldc,
      long strideC, int batch) {
    for (int i = 0; i < batch; i++) {
      gemm(transA, transB, m, n, k, alpha, a.from(i * strideA), lda, b.from(i * strideB), ldb, beta,
          c.from(i * strideC), ldc);
    }
  }

  // ------------------------------------------------------------------ kernels

  @Override
  public void embed(Buf ids, Buf table, Buf out, int rows, int dim) {
    for (int n = 0; n < rows; n++) {
      int id = ints(ids)[o(ids) + n];
      for (int d = 0; d < dim; d++) {
        st(out, (long) n * dim + d, ld(table, (long) id * dim + d));
      }
    }
  }

  @Override
  public void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim) {
    for (int n = 0; n < rows; n++) {
      float ss = 0;
      for (int d = 0; d < dim; d++) {
        float v = ld(x, (long) n * dim + d);
        ss += v * v;
      }
      float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
      st(invRms, n, inv);
      for (int d = 0; d < dim; d++) {
        st(out, (long) n * dim + d, ld(x, (long) n * dim + d) * inv * ld(w, d));
      }
    }
  }

  @Override
  public void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int tr, Buf dx, Buf dxAct, int rows,
      int dim, boolean accumulate) {
    for (int n = 0; n < rows; n++) {
      long r = (long) n * dim;
      float s = ld(invRms, n);
      float gx = 0;
      for (int d = 0; d < dim; d++) {
        gx += tiled(dy, dyTile, tr, n, r + d, d) * ld(w, d) * ld(x, r + d);
      }
      float coef = gx / dim * s * s * s;
      for (int d = 0; d < dim; d++) {
        float v = tiled(dy, dyTile, tr, n, r + d, d) * ld(w, d) * s - ld(x, r + d) * coef;
        if (accumulate) {
          v += ld(dx, r + d);
        }
        st(dx, r + d, v);
        if (dxAct != null) {
          st(dxAct, r + d, v);
        }
      }
    }
  }

  /** in[i] + tile[n, col mod r], the tile term only when a tile is given. */
  private static float tiled(Buf in, Buf tile, int r, long n, long i, long col) {
    float v = ld(in, i);
    return tile == null ? v : v + ld(tile, n * r + col % r);
  }

  @Override
  public void toHeads(Buf in, Buf inTile, int tr, Buf cos, Buf sin, Buf out, int batch, int seq, int heads,
      int headDim, boolean rotate) {
    int half = headDim / 2;
    for (int b = 0; b < batch; b++) {
      for (int t = 0; t < seq; t++) {
        long row = (long) b * seq + t;
        for (int h = 0; h < heads; h++) {
          long src = ((long) (b * seq + t) * heads + h) * headDim;
          long dst = ((long) (b * heads + h) * seq + t) * headDim;
          long col = (long) h * headDim;
          for (int d = 0; d < headDim; d++) {
            float x = tiled(in, inTile, tr, row, src + d, col + d);
            float v = x;
            if (rotate) {
              float rot = d < half ? -tiled(in, inTile, tr, row, src + d + half, col + d + half)
                  : tiled(in, inTile, tr, row, src + d - half, col + d - half);
              v = x * ld(cos, (long) t * headDim + d) + rot * ld(sin, (long) t * headDim + d);
            }
            st(out, dst + d, v);
          }
        }
      }
    }
  }

  @Override
  public void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate) {
    int half = headDim / 2;
    for (int b = 0; b < batch; b++) {
      for (int t = 0; t < seq; t++) {
        for (int h = 0; h < heads; h++) {
          long src = ((long) (b * heads + h) * seq + t) * headDim;
          long dst = ((long) (b * seq + t) * heads + h) * headDim;
          long tab = (long) t * headDim;
          for (int d = 0; d < headDim; d++) {
            float v = ld(in, src + d);
            if (unrotate) {
              // z = dy · sin; dx = dy · cos + (d < half ? z[d + half] : −z[d − half])
              float z = d < half ? ld(in, src + d + half) * ld(sin, tab + d + half)
                  : -(ld(in, src + d - half) * ld(sin, tab + d - half));
              v = v * ld(cos, tab + d) + z;
            }
            st(out, dst + d, v);
          }
        }
      }
    }
  }

  /** Rounds v as a store into a buffer of {@code like}'s type would (BF16 to nearest even). */
  private static float asType(Buf like, float v) {
    return like.type() == DType.BF16 ? Bf16.round(v) : v;
  }

  /**
   * Row t of one head: s_j = scale · q_t · k_j for j ≤ t (float64 sums), into {@code s}. q at
   * element qRow, k's head from element kHead.
   */
  private static void scores(Buf q, long qRow, Buf k, long kHead, int t, int headDim, float scale, double[] s) {
    for (int j = 0; j <= t; j++) {
      double dot = 0;
      for (int d = 0; d < headDim; d++) {
        dot += (double) ld(q, qRow + d) * ld(k, kHead + (long) j * headDim + d);
      }
      s[j] = scale * dot;
    }
  }

  @Override
  public void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
      int headDim, float scale) {
    int heads = kvHeads * group;
    double[] s = new double[seq];
    double[] o = new double[headDim];
    for (int b = 0; b < batch; b++) {
      for (int h = 0; h < heads; h++) {
        long kvHead = ((long) b * kvHeads + h / group) * seq * headDim; // head h reads key/value head h / G
        for (int t = 0; t < seq; t++) {
          long row = (((long) b * heads + h) * seq + t);
          scores(q, row * headDim, k, kvHead, t, headDim, scale, s);
          double max = Double.NEGATIVE_INFINITY;
          for (int j = 0; j <= t; j++) {
            max = Math.max(max, s[j]);
          }
          double sum = 0;
          for (int j = 0; j <= t; j++) {
            sum += Math.exp(s[j] - max);
          }
          float l = (float) (max + Math.log(sum));
          st(lse, row, l);
          java.util.Arrays.fill(o, 0);
          for (int j = 0; j <= t; j++) {
            float p = asType(out, (float) Math.exp(s[j] - l));
            for (int d = 0; d < headDim; d++) {
              o[d] += p * ld(v, kvHead + (long) j * headDim + d);
            }
          }
          for (int d = 0; d < headDim; d++) {
            st(out, row * headDim + d, (float) o[d]);
          }
        }
      }
    }
  }

  @Override
  public void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv, int batch,
      int kvHeads, int group, int seq, int headDim, float scale) {
    int heads = kvHeads * group;
    double[] s = new double[seq];
    float[] p = new float[seq];   // P_j of one query row, in act type
    double[] dp = new double[seq]; // dP_j = dOut_t · v_j
    double[] dqRow = new double[headDim];
    double[] dkHead = new double[seq * headDim];
    double[] dvHead = new double[seq * headDim];
    for (int b = 0; b < batch; b++) {
      for (int kv = 0; kv < kvHeads; kv++) {
        long kvHead = ((long) b * kvHeads + kv) * seq * headDim;
        java.util.Arrays.fill(dkHead, 0);
        java.util.Arrays.fill(dvHead, 0);
        for (int h = kv * group; h < (kv + 1) * group; h++) {
          for (int t = 0; t < seq; t++) {
            long row = ((long) b * heads + h) * seq + t;
            long r = row * headDim;
            scores(q, r, k, kvHead, t, headDim, scale, s);
            float l = ld(lse, row);
            double dd = 0; // D_t = Σ_j P_j dP_j
            for (int j = 0; j <= t; j++) {
              long kj = kvHead + (long) j * headDim;
              p[j] = asType(q, (float) Math.exp(s[j] - l));
              dp[j] = 0;
              for (int d = 0; d < headDim; d++) {
                dp[j] += (double) ld(dOut, r + d) * ld(v, kj + d);
              }
              dd += p[j] * dp[j];
            }
            java.util.Arrays.fill(dqRow, 0);
            for (int j = 0; j <= t; j++) {
              long kj = kvHead + (long) j * headDim;
              float ds = asType(q, (float) (p[j] * (dp[j] - dd) * scale));
              for (int d = 0; d < headDim; d++) {
                dqRow[d] += ds * ld(k, kj + d);
                dkHead[j * headDim + d] += ds * ld(q, r + d);
                dvHead[j * headDim + d] += p[j] * ld(dOut, r + d);
              }
            }
            for (int d = 0; d < headDim; d++) {
              st(dq, r + d, (float) dqRow[d]);
            }
          }
        }
        for (int i = 0; i < seq * headDim; i++) {
          st(dk, kvHead + i, (float) dkHead[i]);
          st(dv, kvHead + i, (float) dvHead[i]);
        }
      }
    }
  }

  private static float sigmoid(float x) {
    return (float) (1.0 / (1.0 + Math.exp(-x)));
  }

  @Override
  public void swiglu(Buf gate, Buf up, Buf out, long n) {
    for (long i = 0; i < n; i++) {
      float g = ld(gate, i);
      st(out, i, sigmoid(g) * g * ld(up, i));
    }
  }

  @Override
  public void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp, Buf out,
      int rows, int cols) {
    long n = (long) rows * cols;
    for (long i = 0; i < n; i++) {
      float g = ld(gate, i);
      float da = tiled(dOut, dOutTile, r, i / cols, i, i % cols);
      float sig = sigmoid(g);
      float gs = g * sig;
      st(dUp, i, sig * g * da);
      st(dGate, i, (sig + gs - gs * sig) * ld(up, i) * da);
      if (out != null) {
        st(out, i, sig * g * ld(up, i));
      }
    }
  }

  @Override
  public void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss,
      Buf dLogits, int rows, int vocab) {
    for (int n = 0; n < rows; n++) {
      long r = (long) n * vocab;
      int target = ints(targets)[o(targets) + n];
      if (target < 0) {
        st(rowLoss, n, 0f);
        if (dLogits != null) {
          for (int j = 0; j < vocab; j++) {
            st(dLogits, r + j, 0f);
          }
        }
        continue;
      }
      float w = ld(weights, n);
      float max = Float.NEGATIVE_INFINITY;
      for (int j = 0; j < vocab; j++) {
        max = Math.max(max, ld(logits, r + j));
      }
      float sum = 0;
      for (int j = 0; j < vocab; j++) {
        sum += (float) Math.exp(ld(logits, r + j) - max);
      }
      float lse = max + (float) Math.log(sum);
      st(rowLoss, n, w * (lse - ld(logits, r + target)));
      if (dLogits != null) {
        for (int j = 0; j < vocab; j++) {
          float p = (float) Math.exp(ld(logits, r + j) - lse);
          st(dLogits, r + j, w * (p - (j == target ? 1f : 0f)) * gradScale);
        }
      }
    }
  }

  @Override
  public void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    float[] row = new float[r];
    for (int o = 0; o < outF; o++) {
      int a = o / r;
      int p = o % r;
      for (int b = 0; b < inF / r; b++) {
        long base = (long) o * inF + (long) b * r;
        java.util.Arrays.fill(row, 0f);
        for (int t = 0; t < r; t++) {
          float x = ld(w, base + t);
          long bt = ((long) a * r + t) * r;
          for (int s = 0; s < r; s++) {
            row[s] += x * ld(blocksAct, bt + s);
          }
        }
        long bp = ((long) a * r + p) * r;
        for (int s = 0; s < r; s++) {
          st(out, base + s, (ld(w, base + s) + ld(blocks, bp + s)) + row[s]);
        }
      }
    }
  }

  @Override
  public void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
    int blocks = inF / r;
    double[] acc = new double[r * r];
    for (int a = 0; a < outF / r; a++) {
      java.util.Arrays.fill(acc, 0);
      for (int p = 0; p < r; p++) {
        long row = (long) (a * r + p) * inF;
        for (int b = 0; b < blocks; b++) {
          long base = row + (long) b * r;
          for (int t = 0; t < r; t++) {
            double wt = ld(w, base + t) + (p == t ? 1.0 : 0.0);
            for (int s = 0; s < r; s++) {
              acc[t * r + s] += wt * ld(m, base + s);
            }
          }
        }
      }
      for (int i = 0; i < r * r; i++) {
        long k = (long) a * r * r + i;
        st(dBlocks, k, (float) (ld(dBlocks, k) + acc[i]));
      }
    }
  }

  @Override
  public void addBias(Buf y, Buf bias, int rows, int cols) {
    for (int n = 0; n < rows; n++) {
      for (int j = 0; j < cols; j++) {
        long k = (long) n * cols + j;
        st(y, k, ld(y, k) + ld(bias, j));
      }
    }
  }

  @Override
  public double sumOfSquares(Buf x) {
    double sum = 0;
    for (long i = 0; i < x.size(); i++) {
      float v = ld(x, i);
      sum += v * v;
    }
    return sum;
  }

  @Override
  public void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd,
      float bias1, float sqrtBias2, float gradScale) {
    for (long i = 0; i < p.size(); i++) {
      float gi = gradScale == 1f ? ld(g, i) : ld(g, i) * gradScale;
      float pi = ld(p, i);
      if (wd != 0f) {
        pi = pi * (1f - lr * wd);
      }
      float mi = ld(m, i) * beta1 + gi * (1f - beta1);
      float vi = ld(v, i) * beta2 + gi * gi * (1f - beta2);
      float denom = (float) Math.sqrt(vi) / sqrtBias2 + eps;
      st(m, i, mi);
      st(v, i, vi);
      st(p, i, pi - mi / denom * (lr / bias1));
    }
  }

  @Override
  public void sgd(Buf p, Buf g, float lr, float wd, float gradScale) {
    for (long i = 0; i < p.size(); i++) {
      float gi = gradScale == 1f ? ld(g, i) : ld(g, i) * gradScale;
      if (wd != 0f) {
        gi += ld(p, i) * wd;
      }
      st(p, i, ld(p, i) - gi * lr);
    }
  }

  @Override
  public void randomNormal(Buf out, float std, long seed) {
    for (long i = 0; i < out.size(); i++) {
      st(out, i, std * RandomNormal.at(seed, out.offset() + i));
    }
  }

  @Override
  public void close() {}

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalArgumentException("java device: bad " + what);
    }
  }
}
