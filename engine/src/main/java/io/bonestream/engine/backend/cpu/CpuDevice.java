package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.RandomNormal;
import io.bonestream.engine.util.Threads;
import java.lang.ref.Cleaner;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CPU as a {@link Device}, the {@code cpu} backend's engine: float32 buffers in native memory,
 * every GEMM in OpenBLAS (the library ND4J ships and calls), and one fused Java loop per kernel,
 * its rows split among the configured threads ({@link Threads}). Float32 only: activations are
 * F32 ({@code fp32} precision).
 *
 * <p>Bit-reproducible for a thread count: a kernel computes each output element in one thread, in
 * a fixed order (the same whatever the count); sums over a whole buffer add fixed-size blocks in
 * order; each GEMM runs on a thread count that depends on its size and the configured count only
 * (OpenBLAS's results depend on its thread count in the last bits). Setting OpenBLAS's thread
 * count and running GEMMs on it happen under one lock, so trainers of two models in one JVM do not
 * change each other's counts.
 *
 * <p>Threads per GEMM: OpenBLAS's own threads for a GEMM of at least {@link #PARALLEL_GEMM}
 * multiply-adds, one below (thread hand-offs cost more than they give there); a batch of small
 * GEMMs (bat per band) is spread over the device's threads instead, each GEMM on one; so are
 * attention's tiles ({@link CpuAttention}).
 */
public final class CpuDevice implements Device {
  /** Multiply-adds from which a GEMM runs on all threads. */
  static final long PARALLEL_GEMM = 1L << 22;
  /** Element operations from which a kernel is split among threads. */
  private static final long PARALLEL_WORK = 1L << 15;
  /** Elements per block of {@link #sumOfSquares}: the order of its float64 sums. */
  private static final int SUM_BLOCK = 1 << 14;
  private static final int ROW_MAJOR = 101;
  private static final int NO_TRANS = 111;
  private static final int TRANS = 112;

  private static final Cleaner CLEANER = Cleaner.create();
  private static CpuDevice shared;

  private final ExecutorService pool;
  private final int maxThreads;
  private long allocated;
  private long peak;
  private int blasThreads = -1;
  /** Queries and keys per tile of attention (CpuAttention.TILE; another only while a benchmark compares). */
  private volatile int attentionTile = CpuAttention.TILE;
  /** Held while a GEMM (or a batch of them) runs on the thread count set for it. */
  private final java.util.concurrent.locks.ReentrantLock gemmLock = new java.util.concurrent.locks.ReentrantLock();

  private CpuDevice() {
    this.maxThreads = Math.max(1, Runtime.getRuntime().availableProcessors());
    AtomicInteger count = new AtomicInteger();
    this.pool = Executors.newFixedThreadPool(Math.max(1, maxThreads - 1), r -> {
      Thread t = new Thread(r, "bonestream-cpu-" + count.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  int attentionTile() {
    return attentionTile;
  }

  /** For CpuAttentionBench: attention's tile size, a multiple of 16 from 16 to 512. */
  void attentionTile(int tile) {
    if (tile < 16 || tile > 512 || tile % 16 != 0) {
      throw new IllegalArgumentException("attention tile " + tile + ": a multiple of 16 from 16 to 512");
    }
    attentionTile = tile;
  }

  /** This JVM's CPU device (one thread pool, shared by every model and trainer). */
  public static synchronized CpuDevice get() {
    if (shared == null) {
      shared = new CpuDevice();
    }
    return shared;
  }

  @Override
  public String describe() {
    return "cpu, " + threads() + " threads, OpenBLAS GEMMs";
  }

  int threads() {
    return Math.max(1, Math.min(maxThreads, Threads.count()));
  }

  // ------------------------------------------------------------------ memory

  /**
   * The owner of an allocation: its memory is freed by {@link #free} or, at the latest, once no
   * view of it is reachable (so a model dropped without closing leaks nothing).
   */
  private static final class Block {
    Cleaner.Cleanable cleanable;
  }

  /** Frees an allocation once; what a {@link Block}'s cleaner runs. */
  private static final class Release implements Runnable {
    private final CpuDevice device;
    private final long address;
    private final long bytes;

    Release(CpuDevice device, long address, long bytes) {
      this.device = device;
      this.address = address;
      this.bytes = bytes;
    }

    @Override
    public void run() {
      Mem.free(address);
      synchronized (device) {
        device.allocated -= bytes;
      }
    }
  }

  @Override
  public Buf alloc(DType type, long size) {
    if (type == DType.BF16) {
      throw new IllegalArgumentException("the cpu device computes in float32 only");
    }
    long bytes = Math.max(1, size) * type.bytes();
    long address = Mem.calloc(bytes);
    synchronized (this) {
      allocated += bytes;
      peak = Math.max(peak, allocated);
    }
    Block owner = new Block();
    owner.cleanable = CLEANER.register(owner, new Release(this, address, bytes));
    return Buf.ofAddress(address, type, size, owner);
  }

  /**
   * A view of an ND4J float32 array's memory, without copying (the base model's weights); the view
   * keeps the array alive. Never {@link #free} it.
   */
  public static Buf wrap(INDArray array) {
    if (array.dataType() != DataType.FLOAT || array.ordering() != 'c' || array.elementWiseStride() != 1) {
      throw new IllegalArgumentException("only contiguous float32 arrays can be wrapped, not " + array.dataType()
          + " " + array.ordering() + " stride " + array.elementWiseStride());
    }
    return Buf.ofAddress(array.data().address() + array.offset() * 4, DType.F32, array.length(), array);
  }

  @Override
  public void free(Buf buf) {
    if (!(buf.owner() instanceof Block b) || buf.offset() != 0) {
      throw new IllegalArgumentException("cpu device: not an allocation of this device: " + buf);
    }
    b.cleanable.clean(); // frees once, however often called
  }

  @Override
  public synchronized long allocatedBytes() {
    return allocated;
  }

  @Override
  public synchronized long peakAllocatedBytes() {
    return peak;
  }

  @Override
  public synchronized void resetPeak() {
    peak = allocated;
  }

  @Override
  public void upload(float[] src, Buf dst) {
    check(src.length == dst.size() && dst.type() == DType.F32, "upload length or type");
    Mem.put(src, dst.pointer());
  }

  @Override
  public void upload(int[] src, Buf dst) {
    check(src.length == dst.size() && dst.type() == DType.I32, "upload ints");
    Mem.put(src, dst.pointer());
  }

  @Override
  public float[] download(Buf src) {
    float[] out = new float[Math.toIntExact(src.size())];
    Mem.get(src.pointer(), out);
    return out;
  }

  @Override
  public void copy(Buf src, Buf dst) {
    check(src.size() == dst.size() && src.type() == dst.type(), "copy length or type");
    Mem.copy(src.pointer(), dst.pointer(), src.size() * src.type().bytes());
  }

  @Override
  public void zero(Buf buf) {
    Mem.zero(buf.pointer(), buf.size() * buf.type().bytes());
  }

  @Override
  public void synchronize() {}

  // ------------------------------------------------------------------ GEMM

  /** A JavaCPP pointer at an address (no allocation of its own), the form OpenBLAS's binding takes. */
  private static final class At extends FloatPointer {
    At(long address) {
      this.address = address;
    }
  }

  /** Sets OpenBLAS's thread count when it differs from the last one set; under {@link #gemmLock}. */
  private void blasThreads(int n) {
    if (n != blasThreads) {
      openblas_nolapack.blas_set_num_threads(n);
      blasThreads = n;
    }
  }

  private static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      Buf b, int ldb, float beta, Buf c, int ldc) {
    sgemm(transA, transB, m, n, k, alpha, a.pointer(), lda, b.pointer(), ldb, beta, c.pointer(), ldc);
  }

  /** {@link #gemm} on float32 matrices at native addresses, on the calling thread's OpenBLAS settings. */
  static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda,
      long b, int ldb, float beta, long c, int ldc) {
    openblas_nolapack.cblas_sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
        new At(a), lda, new At(b), ldb, beta, new At(c), ldc);
  }

  /**
   * Runs {@code work} with OpenBLAS on one thread, under the GEMM lock: for kernels whose parts
   * ({@link #parallel}) each call {@link #sgemm} on small tiles.
   */
  void onOneBlasThread(Runnable work) {
    gemmLock.lock();
    try {
      blasThreads(1);
      work.run();
    } finally {
      gemmLock.unlock();
    }
  }

  @Override
  public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      Buf b, int ldb, float beta, Buf c, int ldc) {
    check(a.type() == DType.F32 && b.type() == DType.F32 && c.type() == DType.F32, "gemm types");
    if (m == 0 || n == 0) {
      return;
    }
    gemmLock.lock();
    try {
      blasThreads((long) m * n * k >= PARALLEL_GEMM ? threads() : 1);
      sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } finally {
      gemmLock.unlock();
    }
  }

  @Override
  public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
      Buf a, int lda, long strideA, Buf b, int ldb, long strideB, float beta, Buf c, int ldc,
      long strideC, int batch) {
    check(a.type() == DType.F32 && b.type() == DType.F32 && c.type() == DType.F32, "gemm types");
    if ((long) m * n * k >= PARALLEL_GEMM || batch == 1) {
      for (int i = 0; i < batch; i++) {
        gemm(transA, transB, m, n, k, alpha, a.from(i * strideA), lda, b.from(i * strideB), ldb, beta,
            c.from(i * strideC), ldc);
      }
      return;
    }
    gemmLock.lock();
    try {
      blasThreads(1);
      parallel(batch, (long) m * n * k, (from, to) -> {
        for (long i = from; i < to; i++) {
          sgemm(transA, transB, m, n, k, alpha, a.from(i * strideA), lda, b.from(i * strideB), ldb, beta,
              c.from(i * strideC), ldc);
        }
      });
    } finally {
      gemmLock.unlock();
    }
  }

  // ------------------------------------------------------------------ kernels

  @Override
  public void embed(Buf ids, Buf table, Buf out, int rows, int dim) {
    long id = ids.pointer();
    long tab = table.pointer();
    long o = out.pointer();
    parallel(rows, dim, (from, to) -> {
      for (long n = from; n < to; n++) {
        Mem.copy(tab + ((long) Mem.i(id, n) * dim << 2), o + (n * dim << 2), (long) dim << 2);
      }
    });
  }

  @Override
  public void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim) {
    long xp = x.pointer();
    long wp = w.pointer();
    long op = out.pointer();
    long ip = invRms.pointer();
    parallel(rows, 3L * dim, (from, to) -> {
      for (long n = from; n < to; n++) {
        long r = n * dim;
        float ss = 0;
        for (int d = 0; d < dim; d++) {
          float v = Mem.f(xp, r + d);
          ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
        Mem.f(ip, n, inv);
        for (int d = 0; d < dim; d++) {
          Mem.f(op, r + d, Mem.f(xp, r + d) * inv * Mem.f(wp, d));
        }
      }
    });
  }

  @Override
  public void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int tr, Buf dx, Buf dxAct, int rows,
      int dim, boolean accumulate) {
    check(dxAct == null, "dxAct (float32 only)");
    long xp = x.pointer();
    long wp = w.pointer();
    long ip = invRms.pointer();
    long dyp = dy.pointer();
    long tp = dyTile == null ? 0 : dyTile.pointer();
    long dxp = dx.pointer();
    parallel(rows, 6L * dim, (from, to) -> {
      for (long n = from; n < to; n++) {
        long r = n * dim;
        long tr0 = n * tr;
        float s = Mem.f(ip, n);
        float gx = 0;
        for (int d = 0; d < dim; d++) {
          float g = Mem.f(dyp, r + d);
          if (tp != 0) {
            g += Mem.f(tp, tr0 + d % tr);
          }
          gx += g * Mem.f(wp, d) * Mem.f(xp, r + d);
        }
        float coef = gx / dim * s * s * s;
        for (int d = 0; d < dim; d++) {
          float g = Mem.f(dyp, r + d);
          if (tp != 0) {
            g += Mem.f(tp, tr0 + d % tr);
          }
          float v = g * Mem.f(wp, d) * s - Mem.f(xp, r + d) * coef;
          if (accumulate) {
            v += Mem.f(dxp, r + d);
          }
          Mem.f(dxp, r + d, v);
        }
      }
    });
  }

  @Override
  public void toHeads(Buf in, Buf inTile, int tr, Buf cos, Buf sin, Buf out, int batch, int seq, int heads,
      int headDim, boolean rotate) {
    long ip = in.pointer();
    long tp = inTile == null ? 0 : inTile.pointer();
    long cp = cos.pointer();
    long sp = sin.pointer();
    long op = out.pointer();
    int half = headDim / 2;
    int width = heads * headDim;
    // one row (b, t) of in (B·T, H·hd) → H rows of out (B, H, T, hd)
    parallel((long) batch * seq, 3L * width, (from, to) -> {
      float[] x = new float[width];
      for (long row = from; row < to; row++) {
        long b = row / seq;
        long t = row % seq;
        long src = row * width;
        for (int i = 0; i < width; i++) {
          x[i] = Mem.f(ip, src + i) + (tp == 0 ? 0f : Mem.f(tp, row * tr + i % tr));
        }
        long tab = t * headDim;
        for (int h = 0; h < heads; h++) {
          long dst = ((b * heads + h) * seq + t) * headDim;
          int c0 = h * headDim;
          for (int d = 0; d < headDim; d++) {
            float v = x[c0 + d];
            if (rotate) {
              float rot = d < half ? -x[c0 + d + half] : x[c0 + d - half];
              v = v * Mem.f(cp, tab + d) + rot * Mem.f(sp, tab + d);
            }
            Mem.f(op, dst + d, v);
          }
        }
      }
    });
  }

  @Override
  public void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate) {
    long ip = in.pointer();
    long cp = cos.pointer();
    long sp = sin.pointer();
    long op = out.pointer();
    int half = headDim / 2;
    int width = heads * headDim;
    // H rows of in (B, H, T, hd) → one row (b, t) of out (B·T, H·hd)
    parallel((long) batch * seq, 3L * width, (from, to) -> {
      for (long row = from; row < to; row++) {
        long b = row / seq;
        long t = row % seq;
        long tab = t * headDim;
        long dst = row * width;
        for (int h = 0; h < heads; h++) {
          long src = ((b * heads + h) * seq + t) * headDim;
          for (int d = 0; d < headDim; d++) {
            float v = Mem.f(ip, src + d);
            if (unrotate) {
              // z = dy · sin; dx = dy · cos + (d < half ? z[d + half] : −z[d − half])
              float z = d < half ? Mem.f(ip, src + d + half) * Mem.f(sp, tab + d + half)
                  : -(Mem.f(ip, src + d - half) * Mem.f(sp, tab + d - half));
              v = v * Mem.f(cp, tab + d) + z;
            }
            Mem.f(op, dst + (long) h * headDim + d, v);
          }
        }
      }
    });
  }

  @Override
  public void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
      int headDim, float scale) {
    check(q.type() == DType.F32 && out.type() == DType.F32, "attention types");
    CpuAttention.forward(this, q, k, v, out, lse, batch, kvHeads, group, seq, headDim, scale);
  }

  @Override
  public void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv, int batch,
      int kvHeads, int group, int seq, int headDim, float scale) {
    check(q.type() == DType.F32 && dOut.type() == DType.F32, "attention types");
    CpuAttention.backward(this, q, k, v, out, dOut, lse, dq, dk, dv, batch, kvHeads, group, seq, headDim, scale);
  }

  @Override
  public void swiglu(Buf gate, Buf up, Buf out, long n) {
    long gp = gate.pointer();
    long up0 = up.pointer();
    long op = out.pointer();
    parallel(n, 8, (from, to) -> {
      for (long i = from; i < to; i++) {
        float g = Mem.f(gp, i);
        Mem.f(op, i, FastExp.sigmoid(g) * g * Mem.f(up0, i));
      }
    });
  }

  @Override
  public void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp, Buf out,
      int rows, int cols) {
    long gp = gate.pointer();
    long upp = up.pointer();
    long dop = dOut.pointer();
    long tp = dOutTile == null ? 0 : dOutTile.pointer();
    long dgp = dGate.pointer();
    long dup = dUp.pointer();
    long op = out == null ? 0 : out.pointer();
    parallel(rows, 12L * cols, (from, to) -> {
      for (long row = from; row < to; row++) {
        for (int j = 0; j < cols; j++) {
          long i = row * cols + j;
          float g = Mem.f(gp, i);
          float u = Mem.f(upp, i);
          float da = Mem.f(dop, i);
          if (tp != 0) {
            da += Mem.f(tp, row * r + j % r);
          }
          float sig = FastExp.sigmoid(g);
          float gs = g * sig;
          Mem.f(dup, i, sig * g * da);
          Mem.f(dgp, i, (sig + gs - gs * sig) * u * da);
          if (op != 0) {
            Mem.f(op, i, sig * g * u);
          }
        }
      }
    });
  }

  @Override
  public void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss,
      Buf dLogits, int rows, int vocab) {
    long lp = logits.pointer();
    long tp = targets.pointer();
    long wp = weights.pointer();
    long rp = rowLoss.pointer();
    long gp = dLogits == null ? 0 : dLogits.pointer();
    parallel(rows, 4L * vocab, (from, to) -> {
      for (long n = from; n < to; n++) {
        long r = n * vocab;
        int target = Mem.i(tp, n);
        if (target < 0) {
          Mem.f(rp, n, 0f);
          if (gp != 0) {
            Mem.zero(gp + (r << 2), (long) vocab << 2);
          }
          continue;
        }
        float w = Mem.f(wp, n);
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) {
          max = Math.max(max, Mem.f(lp, r + j));
        }
        // e_j = exp(logit_j − max), kept in dLogits: softmax_j = e_j / Σ e
        float sum = 0;
        for (int j = 0; j < vocab; j++) {
          float e = FastExp.exp(Mem.f(lp, r + j) - max);
          sum += e;
          if (gp != 0) {
            Mem.f(gp, r + j, e);
          }
        }
        float lse = max + (float) Math.log(sum);
        Mem.f(rp, n, w * (lse - Mem.f(lp, r + target)));
        if (gp != 0) {
          float scale = w * gradScale;
          float inv = 1f / sum;
          for (int j = 0; j < vocab; j++) {
            Mem.f(gp, r + j, Mem.f(gp, r + j) * inv * scale);
          }
          Mem.f(gp, r + target, Mem.f(gp, r + target) - scale);
        }
      }
    });
  }

  /**
   * W + ΔW band by band: band a of W (r rows, (r, I) row-major) read as an (I, r) matrix V_a of
   * leading dimension r holds row p of W_{a,b} at row p·Q + b, so the band of W' read the same
   * way is V_a + V_a·B_a (one GEMM) plus row p of B_a added to rows p·Q + b.
   */
  @Override
  public void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    long band = (long) r * inF;
    Mem.copy(w.pointer(), out.pointer(), (long) outF * inF * 4);
    gemmLock.lock();
    try {
      blasThreads(1);
      parallel(outF / r, band * r, (from, to) -> {
        for (long a = from; a < to; a++) {
          mergeBand(w.slice(a * band, band), blocks.slice(a * r * r, (long) r * r), out.slice(a * band, band), inF, r);
        }
      });
    } finally {
      gemmLock.unlock();
    }
  }

  /** out (I, r) = w (I, r) + w · B (r, r) + row p of B on rows p·Q + b; out holds w already. */
  private static void mergeBand(Buf w, Buf block, Buf out, int inF, int r) {
    int q = inF / r;
    sgemm(false, false, inF, r, r, 1f, w, r, block, r, 1f, out, r);
    long ob = out.pointer();
    long bp = block.pointer();
    for (int p = 0; p < r; p++) {
      for (int b = 0; b < q; b++) {
        long row = ((long) p * q + b) * r;
        for (int s = 0; s < r; s++) {
          Mem.f(ob, row + s, Mem.f(ob, row + s) + Mem.f(bp, (long) p * r + s));
        }
      }
    }
  }

  /**
   * The W term as one GEMM batched over the bands (band a of W and of M, (r, I) row-major, read as
   * (I, r): rows W_{a,b}[p, :] in order (p, b), so Σ_b W_{a,b}ᵀ M_{a,b} = band_a(W)ᵀ band_a(M)),
   * then the identity term Σ_b M_{a,b}.
   */
  @Override
  public void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
    gemmBatched(true, false, r, r, inF, 1f, w, r, (long) r * inF, m, r, (long) r * inF, 1f, dBlocks, r,
        (long) r * r, outF / r);
    batIdentityGrad(m, dBlocks, outF, inF, r);
  }

  /** dBlocks[a, q, s] += Σ_b m[a·r + q, b·r + s]. */
  private void batIdentityGrad(Buf m, Buf dBlocks, int outF, int inF, int r) {
    long mp = m.pointer();
    long dp = dBlocks.pointer();
    int blocks = inF / r;
    parallel(outF, inF, (from, to) -> {
      float[] acc = new float[r];
      for (long o = from; o < to; o++) {
        java.util.Arrays.fill(acc, 0f);
        long row = o * inF;
        for (int b = 0; b < blocks; b++) {
          long base = row + (long) b * r;
          for (int s = 0; s < r; s++) {
            acc[s] += Mem.f(mp, base + s);
          }
        }
        for (int s = 0; s < r; s++) {
          long k = o * r + s; // = ((a·r + q)·r + s) with o = a·r + q
          Mem.f(dp, k, Mem.f(dp, k) + acc[s]);
        }
      }
    });
  }

  @Override
  public void addBias(Buf y, Buf bias, int rows, int cols) {
    long yp = y.pointer();
    long bp = bias.pointer();
    parallel(rows, cols, (from, to) -> {
      for (long n = from; n < to; n++) {
        for (int j = 0; j < cols; j++) {
          long k = n * cols + j;
          Mem.f(yp, k, Mem.f(yp, k) + Mem.f(bp, j));
        }
      }
    });
  }

  @Override
  public double sumOfSquares(Buf x) {
    long xp = x.pointer();
    long n = x.size();
    int blocks = (int) ((n + SUM_BLOCK - 1) / SUM_BLOCK);
    double[] partial = new double[blocks];
    parallel(blocks, SUM_BLOCK, (from, to) -> {
      for (long bl = from; bl < to; bl++) {
        double s = 0;
        long end = Math.min(n, (bl + 1) * SUM_BLOCK);
        for (long i = bl * SUM_BLOCK; i < end; i++) {
          float v = Mem.f(xp, i);
          s += v * v;
        }
        partial[(int) bl] = s;
      }
    });
    double sum = 0;
    for (double s : partial) {
      sum += s;
    }
    return sum;
  }

  @Override
  public void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd,
      float bias1, float sqrtBias2, float gradScale) {
    long pp = p.pointer();
    long gp = g.pointer();
    long mp = m.pointer();
    long vp = v.pointer();
    parallel(p.size(), 12, (from, to) -> {
      for (long i = from; i < to; i++) {
        float gi = gradScale == 1f ? Mem.f(gp, i) : Mem.f(gp, i) * gradScale;
        float pi = Mem.f(pp, i);
        if (wd != 0f) {
          pi = pi * (1f - lr * wd);
        }
        float mi = Mem.f(mp, i) * beta1 + gi * (1f - beta1);
        float vi = Mem.f(vp, i) * beta2 + gi * gi * (1f - beta2);
        float denom = (float) Math.sqrt(vi) / sqrtBias2 + eps;
        Mem.f(mp, i, mi);
        Mem.f(vp, i, vi);
        Mem.f(pp, i, pi - mi / denom * (lr / bias1));
      }
    });
  }

  @Override
  public void sgd(Buf p, Buf g, float lr, float wd, float gradScale) {
    long pp = p.pointer();
    long gp = g.pointer();
    parallel(p.size(), 4, (from, to) -> {
      for (long i = from; i < to; i++) {
        float gi = gradScale == 1f ? Mem.f(gp, i) : Mem.f(gp, i) * gradScale;
        if (wd != 0f) {
          gi += Mem.f(pp, i) * wd;
        }
        Mem.f(pp, i, Mem.f(pp, i) - gi * lr);
      }
    });
  }

  @Override
  public void randomNormal(Buf out, float std, long seed) {
    long op = out.pointer();
    long offset = out.offset();
    parallel(out.size(), 32, (from, to) -> {
      for (long i = from; i < to; i++) {
        Mem.f(op, i, std * RandomNormal.at(seed, offset + i));
      }
    });
  }

  /** Rows of logits per loss chunk: 2^23 values (32 MiB) keep a chunk and its gradient near the cache. */
  @Override
  public long lossChunkElements() {
    return io.bonestream.engine.backend.device.MemoryPlan.CPU_LOSS_CHUNK;
  }

  @Override
  public void close() {}

  // ------------------------------------------------------------------ threads

  /** The body of a parallel loop: items [from, to). */
  @FunctionalInterface
  interface Range {
    void run(long from, long to);
  }

  /**
   * Runs {@code body} over [0, items) in contiguous parts, one per thread, the calling thread
   * taking the first; inline when the work ({@code items · workPerItem} element operations) is too
   * small to share.
   */
  void parallel(long items, long workPerItem, Range body) {
    int parts = (int) Math.min(threads(), Math.min(items, items * workPerItem / PARALLEL_WORK));
    if (parts <= 1) {
      body.run(0, items);
      return;
    }
    Future<?>[] others = new Future<?>[parts - 1];
    for (int i = 1; i < parts; i++) {
      long from = items * i / parts;
      long to = items * (i + 1) / parts;
      others[i - 1] = pool.submit(() -> body.run(from, to));
    }
    RuntimeException failure = null;
    try {
      body.run(0, items / parts);
    } catch (RuntimeException e) {
      failure = e;
    }
    for (Future<?> f : others) {
      try {
        f.get();
      } catch (ExecutionException e) {
        if (failure == null) {
          failure = e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        if (failure == null) {
          failure = new IllegalStateException("interrupted", e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalArgumentException("cpu device: bad " + what);
    }
  }
}
