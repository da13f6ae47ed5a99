package io.bonestream.engine.device;

/**
 * The operations a device backend is made of: memory, GEMMs, and one kernel per layer kind. Its
 * implementations compute the same functions: {@code backend.device.JavaDevice} (plain Java loops,
 * the reference each kernel is tested against), {@code backend.cpu.CpuDevice} (OpenBLAS) and the
 * CUDA device of the {@code bonestream-cuda} module.
 *
 * <p>Matrices are row-major. "act" is the activation type of the model (F32, or BF16 whose values
 * are float32 rounded to nearest-even on every store); every computation inside an operation is
 * float32. Shapes are given in the comments; N = rows (batch · sequence).
 *
 * <p>Calls are ordered: each sees the results of the ones before it. Only {@link #download} and
 * {@link #sumOfSquares} wait for the device. The exception is work given to {@link #onSide}: on a
 * device with a side stream it runs beside the other calls, ordered with them only by
 * {@link Event}s.
 */
public interface Device extends AutoCloseable {
  /** What this device is, e.g. {@code NVIDIA H200 (sm_90), driver 13.0, runtime 13.0}. */
  String describe();

  // ------------------------------------------------------------------ memory

  /** A new zero-filled allocation. */
  Buf alloc(DType type, long size);

  /** Frees an allocation made by {@link #alloc} (not a slice). */
  void free(Buf buf);

  /** Bytes allocated now, and the most allocated at once since {@link #resetPeak()}. */
  long allocatedBytes();

  long peakAllocatedBytes();

  void resetPeak();

  /** Copies floats into a F32 or BF16 buffer of the same length (BF16 rounds). */
  void upload(float[] src, Buf dst);

  /** Copies ints into an I32 buffer of the same length. */
  void upload(int[] src, Buf dst);

  /**
   * Copies values stored in the buffer's own type into it, as a checkpoint holds them (little-endian
   * float32, or bfloat16 bit patterns): {@code src.remaining()} is the buffer's size in bytes. No
   * conversion, so a bf16 checkpoint reaches a bf16 device without passing through float32; this
   * default goes through {@link #upload(float[], Buf)} (exact: each value is representable).
   */
  default void uploadBytes(java.nio.ByteBuffer src, Buf dst) {
    if (dst.type() == DType.I32 || src.remaining() != dst.size() * dst.type().bytes()) {
      throw new IllegalArgumentException("upload of " + src.remaining() + " bytes into " + dst);
    }
    java.nio.ByteBuffer b = src.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[(int) dst.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = dst.type() == DType.F32 ? b.getFloat(b.position() + 4 * i)
          : Float.intBitsToFloat((b.getShort(b.position() + 2 * i) & 0xffff) << 16);
    }
    upload(values, dst);
  }

  /** The values of a F32 or BF16 buffer as floats. */
  float[] download(Buf src);

  /** dst = src, same length; converts between F32 and BF16. */
  void copy(Buf src, Buf dst);

  /** Sets every element to zero. */
  void zero(Buf buf);

  /** Waits until every call so far has finished. */
  void synchronize();

  // ------------------------------------------------------------------ side stream

  /**
   * A point in one stream's work: {@link #record} marks it, {@link #await} makes the current stream
   * wait until the work before the latest mark has finished.
   */
  interface Event {
    /** The event of a device without a side stream, where every call is already ordered. */
    Event NONE = new Event() { };
  }

  /**
   * Whether {@link #onSide} runs its work concurrently with the other calls (a GPU's second stream,
   * so that memory-bound kernels overlap compute-bound GEMMs); without one it runs the work at once.
   */
  default boolean hasSideStream() {
    return false;
  }

  /**
   * Runs {@code work} (calls on this device) on the side stream: in order with earlier side work,
   * but after the other calls only where it {@link #await}s an event they recorded, and before them
   * only where they await one it recorded. No other thread's calls run on the side stream meanwhile.
   */
  default void onSide(Runnable work) {
    work.run();
  }

  /** A new event, not yet recorded (awaiting it does not wait). */
  default Event newEvent() {
    return Event.NONE;
  }

  /** Marks the current point of the current stream (the side stream inside {@link #onSide}). */
  default void record(Event event) { }

  /** The current stream's later work waits until the work before {@code event}'s latest mark is done. */
  default void await(Event event) { }

  // ------------------------------------------------------------------ GEMM

  /**
   * C (m, n) = alpha · op(A) · op(B) + beta · C, op(X) = Xᵀ when its flag is set; A (m, k) or
   * (k, m), B (k, n) or (n, k); A and B of one type, C F32 or that type; with beta 0, C is not read.
   */
  void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      Buf b, int ldb, float beta, Buf c, int ldc);

  /** {@link #gemm} for {@code batch} matrices, the i-th at element offsets i·stride. */
  void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha,
      Buf a, int lda, long strideA, Buf b, int ldb, long strideB, float beta,
      Buf c, int ldc, long strideC, int batch);

  // ------------------------------------------------------------------ kernels

  /** out (N, D) F32 = table[ids[n]] with table (V, D) act. */
  void embed(Buf ids, Buf table, Buf out, int rows, int dim);

  /**
   * RMSNorm: invRms[n] = 1 / sqrt(mean(x[n]²) + eps), out = (x · invRms) · w. x (N, D) F32,
   * w (D) F32, out (N, D) act, invRms (N) F32.
   */
  void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim);

  /**
   * RMSNorm backward. With g = (dy + tile(dyTile)) · w and s = invRms: d = s · g − x · s³ ·
   * mean(g · x); dx = d (or dx + d when accumulating), and dxAct = dx in act type when given.
   * x, dy, dx (N, D) F32; dyTile (N, r) F32 or null, tile(t)[n, d] = t[n, d mod r] (bone's dS).
   */
  void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int r, Buf dx, Buf dxAct, int rows,
      int dim, boolean accumulate);

  /**
   * Rows to heads: x = in + tile(inTile), in (B·T, H·hd) F32 or act, inTile (B·T, r) F32 or null
   * → out (B, H, T, hd) act, rotated by RoPE when {@code rotate}: y = x · cos + rotate_half(x) · sin,
   * rotate_half([x1, x2]) = [−x2, x1]; cos, sin (T, hd) F32.
   */
  void toHeads(Buf in, Buf inTile, int r, Buf cos, Buf sin, Buf out, int batch, int seq, int heads,
      int headDim, boolean rotate);

  /**
   * Heads to rows: in (B, H, T, hd), F32 or act → out (B·T, H·hd) act; with {@code unrotate}, the
   * backward of RoPE: dx = dy · cos + rotate_halfᵀ(dy · sin), rotate_halfᵀ([a, b]) = [b, −a].
   */
  void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate);

  /**
   * Causal attention of every query head, in O(T) memory: no (T, T) score matrix is kept. The G =
   * {@code group} query heads of key/value head kv are heads kv·G .. kv·G + G − 1 (LLaMA's repeated
   * key/value heads), so q (B, H, T, hd) is also (B, Hkv, G·T, hd). With s_j = scale · q_t · k_j:
   * lse[b, h, t] = log Σ_{j ≤ t} exp(s_j), p_j = exp(s_j − lse) and out_t = Σ_{j ≤ t} p_j · v_j, p
   * rounded to act type before it multiplies v (as a GEMM operand would be). q, out (B, H, T, hd)
   * act; k, v (B, Hkv, T, hd) act; lse (B, H, T) F32, H = Hkv · G.
   */
  void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
      int headDim, float scale);

  /**
   * The backward of {@link #attentionForward}, recomputing p from q, k and lse: with P = p rounded
   * to act, dP_j = dOut_t · v_j and D_t = Σ_j P_j · dP_j (= dOut_t · out_t, out before its rounding
   * to act: in bf16, the rounded out would put its error into the cancellation dP − D):
   * dS_j = P_j · (dP_j − D_t) · scale, rounded to act; dq_t = Σ_j dS_j · k_j, dk_j = Σ_{g, t ≥ j}
   * dS_j · q_t, dv_j = Σ_{g, t ≥ j} P_j · dOut_t (sums over the group's heads and the queries that
   * see key j). q, out, dOut (B, H, T, hd) act; k, v (B, Hkv, T, hd) act; lse (B, H, T) F32;
   * dq (B, H, T, hd) F32; dk, dv (B, Hkv, T, hd) F32, overwritten. A float32 device may take D as
   * dOut_t · out_t.
   */
  void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv, int batch,
      int kvHeads, int group, int seq, int headDim, float scale);

  /** out = silu(gate) · up = σ(g) · g · u; all act, n elements. */
  void swiglu(Buf gate, Buf up, Buf out, long n);

  /**
   * With da = dOut + tile(dOutTile): du = σ(g)·g·da, dg = (σ + g·σ − g·σ·σ)·u·da; gate, up, dGate,
   * dUp (N, F) act, dOut (N, F) F32, dOutTile (N, r) F32 or null; and, when {@code out} (N, F) act
   * is given, out = σ(g)·g·u as {@link #swiglu} computes it (bat's down_proj input, recomputed).
   */
  void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp, Buf out, int rows,
      int cols);

  /**
   * Cross-entropy per row of logits (rows, V) F32 against targets (rows) I32, −1 = none, with
   * weights (rows) F32: rowLoss = w · (logsumexp − logit[target]) (0 without a target), and, when
   * dLogits (rows, V) act is given, dLogits = w · (softmax − onehot(target)) · gradScale (0 rows
   * without a target).
   */
  void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss, Buf dLogits,
      int rows, int vocab);

  /**
   * Bat's merged weight W + ΔW, ΔW_{a,b} = (W_{a,b} + I) B_a:
   * out[a·r + p, b·r + s] = w[a·r + p, b·r + s] + blocks[a, p, s] + Σ_t w[a·r + p, b·r + t] ·
   * blocksAct[a, t, s], summed in float32 and stored once; w, out (O, I) act; blocks (O/r, r, r) F32
   * and blocksAct the same values in act type (the products use it, as a GEMM would).
   */
  void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r);

  /**
   * Bat's dB from M = Gᵀx: dBlocks[a] += Σ_b (W_{a,b} + I)ᵀ M_{a,b}, i.e. dBlocks[a, t, s] +=
   * Σ_{b,p} (w[a·r + p, b·r + t] + [p = t]) · m[a·r + p, b·r + s]; w, m (O, I) act, dBlocks
   * (O/r, r, r) F32, I a multiple of r.
   */
  void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r);

  /** y[n, o] += bias[o]; y (N, O) act, bias (O) F32. */
  void addBias(Buf y, Buf bias, int rows, int cols);

  /** Σ x² over a F32 buffer, accumulated in float32 per thread and block, summed in float64. */
  double sumOfSquares(Buf x);

  /**
   * PyTorch's AdamW on flat F32 arrays, g' = g · gradScale: p ·= 1 − lr·wd (if wd ≠ 0);
   * m = b1·m + (1 − b1)·g'; v = b2·v + (1 − b2)·g'²; p −= (lr / bias1) · m / (sqrt(v) / sqrtBias2 + eps).
   */
  void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd,
      float bias1, float sqrtBias2, float gradScale);

  /** PyTorch's SGD without momentum: g' = g · gradScale + wd · p; p −= lr · g'. */
  void sgd(Buf p, Buf g, float lr, float wd, float gradScale);

  /**
   * How many logits (rows · V) the loss materialises at once: it computes them, their gradient and
   * the head's input gradient chunk by chunk of rows.
   */
  default long lossChunkElements() {
    return 1L << 26;
  }

  /** Fills a F32 or BF16 buffer with N(0, std²) values from a counter-based generator. */
  void randomNormal(Buf out, float std, long seed);

  @Override
  void close();
}
