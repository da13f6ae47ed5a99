// The kernels of the CUDA backend: one per layer kind, compiled at run time with NVRTC.
// Each computes what the same-named operation of io.bonestream.engine.backend.device.JavaDevice
// computes (the reference they are tested against). No #include: NVRTC gets no include path, so
// bfloat16 is handled as its bits (unsigned short) with float32 arithmetic. The tests also run the
// kernels on the CPU (src/test/cpp/kernel_emulator.h, where BONESTREAM_HOST_EMULATION is defined and
// the PTX instructions below have emulated equivalents).
//
// Naming: <kernel>_<t> or <kernel>_<in><out> with t = f (float32) or b (bfloat16).

typedef unsigned short bf16;
typedef long long i64;
// 16- and 8-byte loads and stores of packed values
struct alignas(16) U4 { unsigned x, y, z, w; };
struct alignas(8) U2 { unsigned x, y; };
struct alignas(8) F2 { float x, y; };

__device__ __forceinline__ float ld(const float* p, i64 i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, i64 i) {
  return __uint_as_float(((unsigned int) p[i]) << 16);
}
// float32 -> bfloat16, round to nearest even; NaN stays NaN
__device__ __forceinline__ bf16 f2bf(float f) {
  unsigned int x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (bf16) ((x >> 16) | 0x40u);
  return (bf16) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ void st(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, i64 i, float v) { p[i] = f2bf(v); }

__device__ __forceinline__ float warpSum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum (or max) over the block; every thread gets the result. blockDim.x is a multiple of 32.
__device__ float blockSum(float v) {
  __shared__ float sh[32];
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warpSum(v);
  __syncthreads();  // sh may still be read by a previous call
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : 0.f;
  return warpSum(v);
}
__device__ float blockMax(float v) {
  __shared__ float sh[32];
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warpMax(v);
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  v = lane < nw ? sh[lane] : -__int_as_float(0x7f800000);
  return warpMax(v);
}

// Every tensor has fewer than 2^31 elements (the host checks), so element indices are 32-bit:
// 64-bit division costs several times more and these kernels are index-heavy.
#define GRID_STRIDE(i, n) for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned) (n); \
    i += gridDim.x * blockDim.x)

// Elementwise kernels take U = 4 elements per thread and pass, loading all of them before using
// any: a thread's 2-byte loads one at a time leave too few bytes in flight to reach the memory
// bandwidth. The arithmetic per element is unchanged.
#define U 4
#define GRID_STRIDE_U(base, n) for (unsigned base = blockIdx.x * blockDim.x + threadIdx.x; \
    base < (unsigned) (n); base += U * gridDim.x * blockDim.x)
#define AT(base, u) ((base) + (u) * gridDim.x * blockDim.x)

// out (N, D) f32 = table[ids[n]], table (V, D)
template <typename TW>
__device__ void embed(const int* ids, const TW* table, float* out, int rows, int dim) {
  GRID_STRIDE(i, rows * dim) {
    unsigned n = i / dim, d = i - n * dim;
    out[i] = ld(table, (i64) ids[n] * dim + d);
  }
}

// one block per row: inv = 1 / sqrt(mean(x²) + eps); out = (x · inv) · w
template <typename TO>
__device__ void rmsnormFwd(const float* x, const float* w, float eps, TO* out, float* inv, int dim) {
  i64 r = (i64) blockIdx.x * dim;
  float ss = 0.f;
#pragma unroll 4
  for (int d = threadIdx.x; d < dim; d += blockDim.x) { float v = x[r + d]; ss += v * v; }
  ss = blockSum(ss);
  float s = 1.0f / sqrtf(ss / dim + eps);
  if (threadIdx.x == 0) inv[blockIdx.x] = s;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) st(out, r + d, x[r + d] * s * w[d]);
}

// one block per row: g = (dy + tile(dt)) · w; v = s·g − x·s³·mean(g·x); dx = v (+ dx); dxa = v in
// act type. dt (N, tr) or null: bone's dS, tile(dt)[n, d] = dt[n, d mod tr]
template <typename TA>
__device__ void rmsnormBwd(const float* x, const float* w, const float* inv, const float* dy, const float* dt,
    int tr, float* dx, TA* dxa, int dim, int accumulate) {
  i64 r = (i64) blockIdx.x * dim;
  const float* trow = dt ? dt + (i64) blockIdx.x * tr : 0;
  float s = inv[blockIdx.x];
  float gx = 0.f;
#pragma unroll 4
  for (int d = threadIdx.x; d < dim; d += blockDim.x)
    gx += (trow ? dy[r + d] + trow[d % tr] : dy[r + d]) * w[d] * x[r + d];
  gx = blockSum(gx);
  float coef = gx / dim * s * s * s;
  for (int d = threadIdx.x; d < dim; d += blockDim.x) {
    float v = (trow ? dy[r + d] + trow[d % tr] : dy[r + d]) * w[d] * s - x[r + d] * coef;
    if (accumulate) v += dx[r + d];
    dx[r + d] = v;
    if (dxa) st(dxa, r + d, v);
  }
}

// (B·T, H·hd) -> (B, H, T, hd), RoPE when rotate: y = x·cos + rotate_half(x)·sin.
// Grid: x over the T·hd elements of one head's plane, y = b·H + h.
// With a tile dt (B·T, tr), the input is in + tile(dt): element (row, c) + dt[row, c mod tr].
template <typename TI>
__device__ __forceinline__ float tiled(const TI* in, unsigned i, const float* trow, int tr, unsigned c) {
  float v = ld(in, i);
  return trow ? v + trow[c % tr] : v;
}

template <typename TI, typename TO>
__device__ void toHeads(const TI* in, const float* dt, int tr, const float* cs, const float* sn, TO* out, int T,
    int H, int hd, int rotate) {
  int half = hd / 2;
  unsigned plane = blockIdx.y, b = plane / H, h = plane - b * H, n = T * hd, col = h * hd;
  for (unsigned base = blockIdx.x * blockDim.x + threadIdx.x; base < n; base += U * gridDim.x * blockDim.x) {
    float v[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) {
        unsigned t = i / hd, d = i - t * hd;
        unsigned src = ((b * T + t) * H + h) * hd;
        const float* trow = dt ? dt + (i64) (b * T + t) * tr : 0;
        v[k] = tiled(in, src + d, trow, tr, col + d);
        if (rotate) {
          float rot = d < half ? -tiled(in, src + d + half, trow, tr, col + d + half)
                               : tiled(in, src + d - half, trow, tr, col + d - half);
          v[k] = v[k] * cs[i] + rot * sn[i];  // tables are (T, hd): element t·hd + d = i
        }
      }
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) st(out, (i64) plane * n + i, v[k]);
    }
  }
}

// (B, H, T, hd) -> (B·T, H·hd); with unrotate, RoPE's backward: dx = dy·cos + rotate_halfᵀ(dy·sin).
// Grid: x over the T·hd elements of one head's plane, y = b·H + h.
template <typename TI, typename TO>
__device__ void fromHeads(const TI* in, const float* cs, const float* sn, TO* out, int T, int H, int hd,
    int unrotate) {
  int half = hd / 2;
  unsigned plane = blockIdx.y, b = plane / H, h = plane - b * H, n = T * hd;
  const TI* src = in + (i64) plane * n;
  for (unsigned base = blockIdx.x * blockDim.x + threadIdx.x; base < n; base += U * gridDim.x * blockDim.x) {
    float v[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) {
        unsigned d = i % hd;
        v[k] = ld(src, i);
        if (unrotate) {
          float z = d < half ? ld(src, i + half) * sn[i + half] : -(ld(src, i - half) * sn[i - half]);
          v[k] = v[k] * cs[i] + z;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) {
        unsigned t = i / hd, d = i - t * hd;
        st(out, ((i64) (b * T + t) * H + h) * hd + d, v[k]);
      }
    }
  }
}

// ---------------------------------------------------------------- attention
// Causal attention without a (T, T) matrix (JavaDevice.attentionForward/attentionBackward): online
// softmax, only lse = log Σ_j exp(s_j) kept per query row, probabilities recomputed in the backward
// pass. Layouts: q, out, dOut, dq (B, H, T, hd); k, v, dk, dv (B, Hkv, T, hd); lse (B, H, T); query
// head h reads key/value head h / G; the backward pass's D = Σ_j act(p_j) · dP_j per row goes through
// a (B, H, T) float32 buffer from the dq kernel to the dk/dv one. These first kernels compute on CUDA
// cores in float32 (the tensor-core ones below take bf16 at hd 64 and 128): a warp owns a query row (forward, dq) or a few keys (dk, dv) at a time, lane l the head
// dimensions l + 32·c, c < HD / 32; dot products over hd are warp sums. HD is hd rounded up to 32, 64, 128 or 256;
// dimensions ≥ hd read as 0. Every output element is summed by one thread in a fixed order.
// With bf16 activations p and dS are rounded to bf16 where they multiply (as GEMM operands would be).

#define ATT_WARPS 4
// Keys staged in shared memory per tile (K and V as float: 2 · 4096 floats, 32 KiB), and query
// rows per block (forward, dq): ATT_WARPS warps × ATT_ROWS rows.
#define ATT_KEYS(HD) (4096 / (HD))
#define ATT_ROWS 4

__device__ __forceinline__ float asAct(const float*, float v) { return v; }
__device__ __forceinline__ float asAct(const bf16*, float v) { return __uint_as_float(((unsigned) f2bf(v)) << 16); }

// Stages rows j0 .. j0 + n of a (T, hd) head into (n, HD) float shared memory, 0 past hd and past T.
template <typename T, int HD>
__device__ __forceinline__ void attStage(const T* head, int j0, int n, int T_, int hd, float* dst) {
  for (int i = threadIdx.x; i < n * HD; i += blockDim.x) {
    int j = i / HD, d = i - j * HD;
    dst[i] = (j0 + j < T_ && d < hd) ? ld(head, (i64) (j0 + j) * hd + d) : 0.f;
  }
}

// Grid: x over tiles of ATT_WARPS · ATT_ROWS query rows, y = b·H + h; ATT_WARPS warps.
template <typename T, int HD>
__device__ void attentionFwd(const T* q, const T* k, const T* v, T* out, float* lse, int Hkv, int G, int T_,
    int hd, float scale) {
  constexpr int C = HD / 32, KT = ATT_KEYS(HD), QT = ATT_WARPS * ATT_ROWS;
  __shared__ float ks[KT * HD], vs[KT * HD];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  i64 bh = blockIdx.y, b = bh / (Hkv * G), h = bh - b * Hkv * G;
  const T* kh = k + (b * Hkv + h / G) * T_ * hd;
  const T* vh = v + (b * Hkv + h / G) * T_ * hd;
  int t0 = blockIdx.x * QT + warp * ATT_ROWS;
  int tLast = min(T_ - 1, (int) (blockIdx.x * QT + QT - 1));  // the block's last query row
  float qr[ATT_ROWS][C], acc[ATT_ROWS][C], m[ATT_ROWS], l[ATT_ROWS];
#pragma unroll
  for (int i = 0; i < ATT_ROWS; i++) {
    int t = t0 + i;
    m[i] = -__int_as_float(0x7f800000);
    l[i] = 0.f;
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      qr[i][c] = (t < T_ && d < hd) ? ld(q, (bh * T_ + t) * hd + d) : 0.f;
      acc[i][c] = 0.f;
    }
  }
  for (int j0 = 0; j0 <= tLast; j0 += KT) {
    int n = min(KT, T_ - j0);
    __syncthreads();  // the previous tile is no longer read
    attStage<T, HD>(kh, j0, n, T_, hd, ks);
    attStage<T, HD>(vh, j0, n, T_, hd, vs);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < ATT_ROWS; i++) {
      int t = t0 + i;
      int end = min(n, t - j0 + 1);  // keys j0 .. t of this tile (none past T or for t ≥ T)
      if (t >= T_) end = 0;
      for (int j = 0; j < end; j++) {
        float dot = 0.f;
#pragma unroll
        for (int c = 0; c < C; c++) dot += qr[i][c] * ks[j * HD + lane + 32 * c];
        float s = warpSum(dot) * scale;
        float mNew = fmaxf(m[i], s);
        float corr = expf(m[i] - mNew);  // 0 at the first key (m = −∞)
        float p = expf(s - mNew);
        l[i] = l[i] * corr + p;
        float pa = asAct(out, p);
#pragma unroll
        for (int c = 0; c < C; c++) acc[i][c] = acc[i][c] * corr + pa * vs[j * HD + lane + 32 * c];
        m[i] = mNew;
      }
    }
  }
#pragma unroll
  for (int i = 0; i < ATT_ROWS; i++) {
    int t = t0 + i;
    if (t >= T_) continue;
    float inv = 1.f / l[i];
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      if (d < hd) st(out, (bh * T_ + t) * hd + d, acc[i][c] * inv);
    }
    if (lane == 0) lse[bh * T_ + t] = m[i] + logf(l[i]);
  }
}

// dq: grid and rows as attentionFwd. Per row, two passes over the keys j ≤ t, p = exp(s − lse):
// first D = Σ_j act(p) · (dOut · v_j) (written to dd for attentionBwdDkv: dOut · out would carry
// out's rounding to act into the cancellation dP − D), then dS = act(act(p) · (dOut · v_j − D) ·
// scale) and dq += dS · k_j.
template <typename T, int HD>
__device__ void attentionBwdDq(const T* q, const T* k, const T* v, const T* dOut, const float* lse, float* dq,
    float* dd, int Hkv, int G, int T_, int hd, float scale) {
  constexpr int C = HD / 32, KT = ATT_KEYS(HD), QT = ATT_WARPS * ATT_ROWS;
  __shared__ float ks[KT * HD], vs[KT * HD];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  i64 bh = blockIdx.y, b = bh / (Hkv * G), h = bh - b * Hkv * G;
  const T* kh = k + (b * Hkv + h / G) * T_ * hd;
  const T* vh = v + (b * Hkv + h / G) * T_ * hd;
  int t0 = blockIdx.x * QT + warp * ATT_ROWS;
  int tLast = min(T_ - 1, (int) (blockIdx.x * QT + QT - 1));
  float qr[ATT_ROWS][C], dor[ATT_ROWS][C], dqr[ATT_ROWS][C], dr[ATT_ROWS], lr[ATT_ROWS];
#pragma unroll
  for (int i = 0; i < ATT_ROWS; i++) {
    int t = t0 + i;
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      bool in = t < T_ && d < hd;
      i64 e = (bh * T_ + t) * hd + d;
      qr[i][c] = in ? ld(q, e) : 0.f;
      dor[i][c] = in ? ld(dOut, e) : 0.f;
      dqr[i][c] = 0.f;
    }
    dr[i] = 0.f;
    lr[i] = t < T_ ? lse[bh * T_ + t] : 0.f;
  }
  for (int pass = 0; pass < 2; pass++) {  // 0: D, 1: dq
    for (int j0 = 0; j0 <= tLast; j0 += KT) {
      int n = min(KT, T_ - j0);
      __syncthreads();
      attStage<T, HD>(kh, j0, n, T_, hd, ks);
      attStage<T, HD>(vh, j0, n, T_, hd, vs);
      __syncthreads();
#pragma unroll
      for (int i = 0; i < ATT_ROWS; i++) {
        int t = t0 + i;
        int end = t >= T_ ? 0 : min(n, t - j0 + 1);
        for (int j = 0; j < end; j++) {
          float sd = 0.f, pd = 0.f;
#pragma unroll
          for (int c = 0; c < C; c++) {
            sd += qr[i][c] * ks[j * HD + lane + 32 * c];
            pd += dor[i][c] * vs[j * HD + lane + 32 * c];
          }
          float s = warpSum(sd) * scale, dp = warpSum(pd);
          float pa = asAct(q, expf(s - lr[i]));
          if (pass == 0) {
            dr[i] += pa * dp;
          } else {
            float ds = asAct(q, pa * (dp - dr[i]) * scale);
#pragma unroll
            for (int c = 0; c < C; c++) dqr[i][c] += ds * ks[j * HD + lane + 32 * c];
          }
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < ATT_ROWS; i++) {
    int t = t0 + i;
    if (t >= T_) continue;
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      if (d < hd) dq[(bh * T_ + t) * hd + d] = dqr[i][c];
    }
    if (lane == 0) dd[bh * T_ + t] = dr[i];
  }
}

// Keys per warp of attentionBwdDkv (its registers: 4 · ATT_KPW(HD) · HD / 32 floats per lane), and the
// query rows staged in shared memory at once (q and dOut as float: 2 · 4096 floats, 32 KiB).
#define ATT_KPW(HD) ((HD) >= 256 ? 2 : (HD) >= 128 ? 4 : 8)
#define ATT_QCHUNK(HD) (4096 / (HD))

// dk, dv, after attentionBwdDq (its D per row in dd): grid x over tiles of ATT_WARPS · ATT_KPW keys,
// y = b·Hkv + kv. Warp w owns keys j (in registers: k_j, v_j and their gradients) and goes through
// the query rows t ≥ j of the G heads in order (g, t), staged in chunks: dv_j += act(p) · dOut_t,
// dk_j += dS · q_t.
template <typename T, int HD>
__device__ void attentionBwdDkv(const T* q, const T* k, const T* v, const T* dOut, const float* lse,
    const float* dd, float* dk, float* dv, int Hkv, int G, int T_, int hd, float scale) {
  constexpr int C = HD / 32, KPW = ATT_KPW(HD), QC = ATT_QCHUNK(HD);
  __shared__ float qs[QC * HD], dos[QC * HD];
  __shared__ float lses[QC], dds[QC];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  i64 bkv = blockIdx.y, b = bkv / Hkv, kv = bkv - b * Hkv;
  int j0 = blockIdx.x * ATT_WARPS * KPW;       // the block's first key
  int jw = j0 + warp * KPW;                    // the warp's first key
  float kr[KPW][C], vr[KPW][C], dkr[KPW][C], dvr[KPW][C];
#pragma unroll
  for (int x = 0; x < KPW; x++) {
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      bool in = jw + x < T_ && d < hd;
      i64 e = (bkv * T_ + jw + x) * hd + d;
      kr[x][c] = in ? ld(k, e) : 0.f;
      vr[x][c] = in ? ld(v, e) : 0.f;
      dkr[x][c] = 0.f;
      dvr[x][c] = 0.f;
    }
  }
  for (int g = 0; g < G; g++) {
    i64 bh = b * Hkv * G + kv * G + g;
    for (int c0 = j0; c0 < T_; c0 += QC) {  // query rows c0 .. c0 + QC (rows before j0 see none of these keys)
      int n = min(QC, T_ - c0);
      __syncthreads();
      attStage<T, HD>(q + bh * T_ * hd, c0, n, T_, hd, qs);
      attStage<T, HD>(dOut + bh * T_ * hd, c0, n, T_, hd, dos);
      for (int r = threadIdx.x; r < n; r += blockDim.x) {  // D and lse of the staged rows
        dds[r] = dd[bh * T_ + c0 + r];
        lses[r] = lse[bh * T_ + c0 + r];
      }
      __syncthreads();
      for (int r = 0; r < n; r++) {
        int t = c0 + r;
#pragma unroll
        for (int x = 0; x < KPW; x++) {
          if (jw + x > t || jw + x >= T_) continue;  // uniform in the warp
          float sd = 0.f, pd = 0.f;
#pragma unroll
          for (int c = 0; c < C; c++) {
            sd += qs[r * HD + lane + 32 * c] * kr[x][c];
            pd += dos[r * HD + lane + 32 * c] * vr[x][c];
          }
          float s = warpSum(sd) * scale, dp = warpSum(pd);
          float pa = asAct(q, expf(s - lses[r]));
          float ds = asAct(q, pa * (dp - dds[r]) * scale);
#pragma unroll
          for (int c = 0; c < C; c++) {
            dvr[x][c] += pa * dos[r * HD + lane + 32 * c];
            dkr[x][c] += ds * qs[r * HD + lane + 32 * c];
          }
        }
      }
    }
  }
#pragma unroll
  for (int x = 0; x < KPW; x++) {
#pragma unroll
    for (int c = 0; c < C; c++) {
      int d = lane + 32 * c;
      if (jw + x < T_ && d < hd) {
        i64 e = (bkv * T_ + jw + x) * hd + d;
        dk[e] = dkr[x][c];
        dv[e] = dvr[x][c];
      }
    }
  }
}

// The same attention on tensor cores: bf16, hd exactly HD = 64 or 128, sm_80 and later (mma16816
// below), 16-byte aligned tensors (the host checks). Blocks of 4 warps; a warp owns 16 query rows
// (forward, dq) or 16 keys (dk, dv) and computes its products as m16n8k16 tiles: lane l (g = l / 4,
// t4 = l % 4) holds the rows g and g + 8 of each accumulator tile, columns 2·t4 and 2·t4 + 1. An
// accumulator tile pair (16 × 16) is, packed to bf16, the A fragment of the next product (P·V, dS·K,
// Pᵀ·dOut, dSᵀ·q), so p and dS are rounded to bf16 exactly where the reference rounds them. B
// fragments come from shared memory: row-major tiles for products over hd (q·kᵀ, dOut·vᵀ) and
// transposed tiles for products over the keys or queries. Rows are padded by 8 bf16 so that the 8
// rows g of a fragment load fall in distinct banks. Softmax sums and maxima per row are over the
// quad of lanes that holds the row (two shuffles). Every output element is written by one thread,
// summed in a fixed order: deterministic.
// c (16 × 8, float32) += a (16 × 16) · b (16 × 8), bf16 operands; a no-op before sm_80.
__device__ __forceinline__ void mma16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
    unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#elif defined(BONESTREAM_HOST_EMULATION)
  emu::mma16816(c, a0, a1, a2, a3, b0, b1);
#endif
}

#define TC_WARPS 4
#define TC_ROWS 64  // query rows (forward, dq) or keys (dk, dv) per block: TC_WARPS × 16

__device__ __forceinline__ unsigned lds32(const bf16* p) { return *(const unsigned*) p; }
__device__ __forceinline__ unsigned packBf16(float lo, float hi) {
  return (unsigned) f2bf(lo) | ((unsigned) f2bf(hi) << 16);
}
__device__ __forceinline__ float roundBf16(float v) { return __uint_as_float(((unsigned) f2bf(v)) << 16); }

// Rows r0 .. r0 + n of a (T, HD) bf16 head into dst (n rows of LD) and, where dstT is not null,
// transposed into dstT (HD rows of LDT); 0 past T. 16-byte loads. Without dstT consecutive threads
// take consecutive chunks of a row (coalesced loads); with it, the same chunk of consecutive rows,
// so that the transposed 2-byte stores of a warp fall in distinct banks instead of eight to a bank.
template <int HD, int LD, int LDT>
__device__ __forceinline__ void tcStage(const bf16* head, int r0, int n, int T_, bf16* dst, bf16* dstT) {
  constexpr int CH = HD / 8;
  for (int i = threadIdx.x; i < n * CH; i += blockDim.x) {
    int r, c;
    if (dstT) {
      c = i / n;
      r = i - c * n;
      c *= 8;
    } else {
      r = i / CH;
      c = (i - r * CH) * 8;
    }
    U4 x = {0u, 0u, 0u, 0u};
    if (r0 + r < T_) x = *(const U4*) (head + (i64) (r0 + r) * HD + c);
    if (dst) *(U4*) (dst + r * LD + c) = x;
    if (dstT) {
      unsigned w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
      for (int u = 0; u < 4; u++) {
        dstT[(c + 2 * u) * LDT + r] = (bf16) (w[u] & 0xffffu);
        dstT[(c + 2 * u + 1) * LDT + r] = (bf16) (w[u] >> 16);
      }
    }
  }
}

// The A fragments (16 rows × HD, NK = HD / 16 k-steps) of rows r .. r + 15 of a (T, HD) bf16 head
// in global memory, 0 past T.
template <int HD>
__device__ __forceinline__ void tcRowsA(const bf16* head, int r, int T_, int g, int t4, unsigned (*f)[4]) {
#pragma unroll
  for (int kk = 0; kk < HD / 16; kk++) {
    int c = kk * 16 + 2 * t4;
    bool a = r + g < T_, b = r + g + 8 < T_;
    f[kk][0] = a ? lds32(head + (i64) (r + g) * HD + c) : 0u;
    f[kk][1] = b ? lds32(head + (i64) (r + g + 8) * HD + c) : 0u;
    f[kk][2] = a ? lds32(head + (i64) (r + g) * HD + c + 8) : 0u;
    f[kk][3] = b ? lds32(head + (i64) (r + g + 8) * HD + c + 8) : 0u;
  }
}

// acc[mt] (16 × N each) = A[mt] (16 × HD, fragments f[mt]) · Bᵀ for the MT row tiles of a warp,
// where B's rows (N of them, HD each) are rows of a shared tile with stride LD: the products over
// hd. Each B fragment is loaded once for the MT tiles (MT = 2 halves the shared-memory traffic per
// product).
template <int HD, int N, int LD, int MT>
__device__ __forceinline__ void tcProductOverHd(float (*acc)[N / 8][4], const unsigned (*f)[HD / 16][4],
    const bf16* tile, int g, int t4) {
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int nt = 0; nt < N / 8; nt++) acc[mt][nt][0] = acc[mt][nt][1] = acc[mt][nt][2] = acc[mt][nt][3] = 0.f;
  }
#pragma unroll
  for (int nt = 0; nt < N / 8; nt++) {
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
      const bf16* row = tile + (nt * 8 + g) * LD + kk * 16 + 2 * t4;
      unsigned b0 = lds32(row), b1 = lds32(row + 8);
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
        mma16816(acc[mt][nt], f[mt][kk][0], f[mt][kk][1], f[mt][kk][2], f[mt][kk][3], b0, b1);
      }
    }
  }
}

// out[mt] (16 × HD each) += P[mt] (16 × N, the accumulators p, rounded to bf16) · M where M (N × HD)
// is given transposed in shared memory (HD rows of stride LDT): the products over keys or queries.
template <int HD, int N, int LDT, int MT>
__device__ __forceinline__ void tcProductOverRows(float (*out)[HD / 8][4], const float (*p)[N / 8][4],
    const bf16* tileT, int g, int t4) {
#pragma unroll
  for (int kk = 0; kk < N / 16; kk++) {
    unsigned a[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      a[mt][0] = packBf16(p[mt][2 * kk][0], p[mt][2 * kk][1]);
      a[mt][1] = packBf16(p[mt][2 * kk][2], p[mt][2 * kk][3]);
      a[mt][2] = packBf16(p[mt][2 * kk + 1][0], p[mt][2 * kk + 1][1]);
      a[mt][3] = packBf16(p[mt][2 * kk + 1][2], p[mt][2 * kk + 1][3]);
    }
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) {
      const bf16* row = tileT + (nd * 8 + g) * LDT + kk * 16 + 2 * t4;
      unsigned b0 = lds32(row), b1 = lds32(row + 8);
#pragma unroll
      for (int mt = 0; mt < MT; mt++) mma16816(out[mt][nd], a[mt][0], a[mt][1], a[mt][2], a[mt][3], b0, b1);
    }
  }
}

__device__ __forceinline__ float quadMax(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quadSum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Grid: x over tiles of TC_ROWS · MT query rows, y = b·H + h; a warp owns MT tiles of 16 rows.
// Keys in tiles of KT: K row-major, V transposed in shared memory.
template <int HD, int MT>
__device__ void attentionFwdTc(const bf16* q, const bf16* k, const bf16* v, bf16* out, float* lse, int Hkv, int G,
    int T_, float scale) {
  constexpr int KT = MT * HD >= 256 ? 32 : 64, LDK = HD + 8, LDV = KT + 8, NO = HD / 8, WR = 16 * MT;
  __shared__ alignas(16) bf16 ks[KT * LDK];
  __shared__ alignas(16) bf16 vt[HD * LDV];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t4 = lane & 3;
  const i64 bh = blockIdx.y, b = bh / (Hkv * G), h = bh - b * Hkv * G;
  const bf16* kh = k + (b * Hkv + h / G) * T_ * HD;
  const bf16* vh = v + (b * Hkv + h / G) * T_ * HD;
  const int q0 = blockIdx.x * TC_ROWS * MT, r0 = q0 + warp * WR;
  int row[MT][2];
  unsigned qf[MT][HD / 16][4];
  float o[MT][NO][4];
  const float NEG = -__int_as_float(0x7f800000);
  float m[MT][2], l[MT][2];  // l: this lane's part of the row sum
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    row[mt][0] = r0 + 16 * mt + g;
    row[mt][1] = r0 + 16 * mt + g + 8;
    tcRowsA<HD>(q + bh * T_ * HD, r0 + 16 * mt, T_, g, t4, qf[mt]);
#pragma unroll
    for (int nd = 0; nd < NO; nd++) o[mt][nd][0] = o[mt][nd][1] = o[mt][nd][2] = o[mt][nd][3] = 0.f;
    m[mt][0] = m[mt][1] = NEG;
    l[mt][0] = l[mt][1] = 0.f;
  }
  const int last = min(T_ - 1, q0 + TC_ROWS * MT - 1);
  for (int j0 = 0; j0 <= last; j0 += KT) {
    __syncthreads();  // the previous tile is no longer read
    tcStage<HD, LDK, LDV>(kh, j0, KT, T_, ks, nullptr);
    tcStage<HD, LDK, LDV>(vh, j0, KT, T_, nullptr, vt);
    __syncthreads();
    if (j0 > r0 + WR - 1) continue;  // none of these keys is visible to this warp's rows
    float s[MT][KT / 8][4];
    tcProductOverHd<HD, KT, LDK, MT>(s, qf, ks, g, t4);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
      float mx[2] = {m[mt][0], m[mt][1]};
#pragma unroll
      for (int nt = 0; nt < KT / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int j = j0 + nt * 8 + 2 * t4 + (e & 1), r = e >> 1;
          s[mt][nt][e] = (j <= row[mt][r] && j < T_) ? s[mt][nt][e] * scale : NEG;
          mx[r] = fmaxf(mx[r], s[mt][nt][e]);
        }
      }
      float corr[2];
#pragma unroll
      for (int r = 0; r < 2; r++) {
        mx[r] = quadMax(mx[r]);
        float base = mx[r] == NEG ? 0.f : mx[r];  // a row with no visible key yet: every p is 0
        corr[r] = expf(m[mt][r] - base);          // 0 at the first visible key (m = −∞)
        m[mt][r] = mx[r];
        mx[r] = base;
        l[mt][r] *= corr[r];
      }
#pragma unroll
      for (int nt = 0; nt < KT / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          float p = expf(s[mt][nt][e] - mx[e >> 1]);
          l[mt][e >> 1] += p;
          s[mt][nt][e] = p;
        }
      }
#pragma unroll
      for (int nd = 0; nd < NO; nd++) {
        o[mt][nd][0] *= corr[0];
        o[mt][nd][1] *= corr[0];
        o[mt][nd][2] *= corr[1];
        o[mt][nd][3] *= corr[1];
      }
    }
    tcProductOverRows<HD, KT, LDV, MT>(o, s, vt, g, t4);
  }
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float sum = quadSum(l[mt][r]);
      if (row[mt][r] >= T_) continue;
      float inv = 1.f / sum;
      bf16* orow = out + (bh * T_ + row[mt][r]) * HD;
#pragma unroll
      for (int nd = 0; nd < NO; nd++) {
        *(unsigned*) (orow + nd * 8 + 2 * t4) = packBf16(o[mt][nd][2 * r] * inv, o[mt][nd][2 * r + 1] * inv);
      }
      if (t4 == 0) lse[bh * T_ + row[mt][r]] = m[mt][r] + logf(sum);
    }
  }
}

// dq and D per row (into dd), as attentionBwdDq: pass 0 sums D = Σ_j act(p)·dP_j, pass 1 makes
// dS = act(act(p)·(dP − D)·scale) and dq += dS · k. A warp owns MT tiles of 16 query rows. Keys in
// tiles of 4096 / (HD · MT): K and V row-major (for s and dP), K transposed (for dS · K) in pass 1.
template <int HD, int MT>
__device__ void attentionBwdDqTc(const bf16* q, const bf16* k, const bf16* v, const bf16* dOut, const float* lse,
    float* dq, float* dd, int Hkv, int G, int T_, float scale) {
  constexpr int KT = 4096 / (HD * MT), LDK = HD + 8, LDT = KT + 8, NO = HD / 8, WR = 16 * MT;
  __shared__ alignas(16) bf16 ks[KT * LDK];
  __shared__ alignas(16) bf16 vs[KT * LDK];
  __shared__ alignas(16) bf16 kt[HD * LDT];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t4 = lane & 3;
  const i64 bh = blockIdx.y, b = bh / (Hkv * G), h = bh - b * Hkv * G;
  const bf16* kh = k + (b * Hkv + h / G) * T_ * HD;
  const bf16* vh = v + (b * Hkv + h / G) * T_ * HD;
  const int q0 = blockIdx.x * TC_ROWS * MT, r0 = q0 + warp * WR;
  int row[MT][2];
  unsigned qf[MT][HD / 16][4], df[MT][HD / 16][4];
  float lr[MT][2], dr[MT][2], dqa[MT][NO][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
    tcRowsA<HD>(q + bh * T_ * HD, r0 + 16 * mt, T_, g, t4, qf[mt]);
    tcRowsA<HD>(dOut + bh * T_ * HD, r0 + 16 * mt, T_, g, t4, df[mt]);
#pragma unroll
    for (int r = 0; r < 2; r++) {
      row[mt][r] = r0 + 16 * mt + g + 8 * r;
      lr[mt][r] = row[mt][r] < T_ ? lse[bh * T_ + row[mt][r]] : 0.f;
      dr[mt][r] = 0.f;
    }
#pragma unroll
    for (int nd = 0; nd < NO; nd++) dqa[mt][nd][0] = dqa[mt][nd][1] = dqa[mt][nd][2] = dqa[mt][nd][3] = 0.f;
  }
  const int last = min(T_ - 1, q0 + TC_ROWS * MT - 1);
  for (int pass = 0; pass < 2; pass++) {
    for (int j0 = 0; j0 <= last; j0 += KT) {
      __syncthreads();
      tcStage<HD, LDK, LDT>(kh, j0, KT, T_, ks, pass == 1 ? kt : nullptr);
      tcStage<HD, LDK, LDT>(vh, j0, KT, T_, vs, nullptr);
      __syncthreads();
      if (j0 > r0 + WR - 1) continue;
      float s[MT][KT / 8][4], dp[MT][KT / 8][4];
      tcProductOverHd<HD, KT, LDK, MT>(s, qf, ks, g, t4);
      tcProductOverHd<HD, KT, LDK, MT>(dp, df, vs, g, t4);
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
#pragma unroll
        for (int nt = 0; nt < KT / 8; nt++) {
#pragma unroll
          for (int e = 0; e < 4; e++) {
            int j = j0 + nt * 8 + 2 * t4 + (e & 1), r = e >> 1;
            bool in = j <= row[mt][r] && j < T_ && row[mt][r] < T_;
            float pa = in ? roundBf16(expf(s[mt][nt][e] * scale - lr[mt][r])) : 0.f;
            if (pass == 0) {
              dr[mt][r] += pa * dp[mt][nt][e];
            } else {
              s[mt][nt][e] = in ? roundBf16(pa * (dp[mt][nt][e] - dr[mt][r]) * scale) : 0.f;
            }
          }
        }
      }
      if (pass == 1) tcProductOverRows<HD, KT, LDT, MT>(dqa, s, kt, g, t4);
    }
    if (pass == 0) {
#pragma unroll
      for (int mt = 0; mt < MT; mt++) {
        dr[mt][0] = quadSum(dr[mt][0]);
        dr[mt][1] = quadSum(dr[mt][1]);
      }
    }
  }
#pragma unroll
  for (int mt = 0; mt < MT; mt++) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
      if (row[mt][r] >= T_) continue;
      float* qrow = dq + (bh * T_ + row[mt][r]) * HD;
#pragma unroll
      for (int nd = 0; nd < NO; nd++) {
        *(F2*) (qrow + nd * 8 + 2 * t4) = F2{dqa[mt][nd][2 * r], dqa[mt][nd][2 * r + 1]};
      }
      if (t4 == 0) dd[bh * T_ + row[mt][r]] = dr[mt][r];
    }
  }
}

// dk, dv, after attentionBwdDqTc (D per row in dd): grid x over tiles of TC_ROWS keys, y = b·Hkv + kv.
// Warp w owns 16 keys (k and v as A fragments) and goes through the query rows t ≥ its block's first
// key of the G heads, in tiles of 4096 / HD: q and dOut row-major (for sᵀ and dPᵀ) and transposed
// (for Pᵀ · dOut and dSᵀ · q).
template <int HD>
__device__ void attentionBwdDkvTc(const bf16* q, const bf16* k, const bf16* v, const bf16* dOut, const float* lse,
    const float* dd, float* dk, float* dv, int Hkv, int G, int T_, float scale) {
  constexpr int QT = 4096 / HD, LDQ = HD + 8, LDT = QT + 8, NO = HD / 8;
  __shared__ alignas(16) bf16 qs[QT * LDQ];
  __shared__ alignas(16) bf16 dos[QT * LDQ];
  __shared__ alignas(16) bf16 qt[HD * LDT];
  __shared__ alignas(16) bf16 dot[HD * LDT];
  __shared__ float lses[QT], dds[QT];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t4 = lane & 3;
  const i64 bkv = blockIdx.y, b = bkv / Hkv, kv = bkv - b * Hkv;
  const int k0 = blockIdx.x * TC_ROWS, jw = k0 + warp * 16;
  const int key[2] = {jw + g, jw + g + 8};
  unsigned kf[1][HD / 16][4], vf[1][HD / 16][4];  // one tile of 16 keys per warp
  tcRowsA<HD>(k + bkv * T_ * HD, jw, T_, g, t4, kf[0]);
  tcRowsA<HD>(v + bkv * T_ * HD, jw, T_, g, t4, vf[0]);
  float dka[1][NO][4], dva[1][NO][4];
#pragma unroll
  for (int nd = 0; nd < NO; nd++) {
    dka[0][nd][0] = dka[0][nd][1] = dka[0][nd][2] = dka[0][nd][3] = 0.f;
    dva[0][nd][0] = dva[0][nd][1] = dva[0][nd][2] = dva[0][nd][3] = 0.f;
  }
  for (int gg = 0; gg < G; gg++) {
    const i64 bh = b * Hkv * G + kv * G + gg;
    for (int c0 = k0; c0 < T_; c0 += QT) {  // rows before k0 see none of the block's keys
      __syncthreads();
      tcStage<HD, LDQ, LDT>(q + bh * T_ * HD, c0, QT, T_, qs, qt);
      tcStage<HD, LDQ, LDT>(dOut + bh * T_ * HD, c0, QT, T_, dos, dot);
      for (int r = threadIdx.x; r < QT; r += blockDim.x) {
        bool in = c0 + r < T_;
        lses[r] = in ? lse[bh * T_ + c0 + r] : 0.f;
        dds[r] = in ? dd[bh * T_ + c0 + r] : 0.f;
      }
      __syncthreads();
      if (jw > c0 + QT - 1) continue;  // every key of this warp comes after these rows
      float st[1][QT / 8][4], dpt[1][QT / 8][4];
      tcProductOverHd<HD, QT, LDQ, 1>(st, kf, qs, g, t4);
      tcProductOverHd<HD, QT, LDQ, 1>(dpt, vf, dos, g, t4);
#pragma unroll
      for (int nt = 0; nt < QT / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int c = nt * 8 + 2 * t4 + (e & 1), t = c0 + c, j = key[e >> 1];
          bool in = j <= t && t < T_ && j < T_;
          float pa = in ? roundBf16(expf(st[0][nt][e] * scale - lses[c])) : 0.f;
          dpt[0][nt][e] = in ? roundBf16(pa * (dpt[0][nt][e] - dds[c]) * scale) : 0.f;
          st[0][nt][e] = pa;
        }
      }
      tcProductOverRows<HD, QT, LDT, 1>(dva, st, dot, g, t4);
      tcProductOverRows<HD, QT, LDT, 1>(dka, dpt, qt, g, t4);
    }
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    if (key[r] >= T_) continue;
    float* krow = dk + (bkv * T_ + key[r]) * HD;
    float* vrow = dv + (bkv * T_ + key[r]) * HD;
#pragma unroll
    for (int nd = 0; nd < NO; nd++) {
      *(F2*) (krow + nd * 8 + 2 * t4) = F2{dka[0][nd][2 * r], dka[0][nd][2 * r + 1]};
      *(F2*) (vrow + nd * 8 + 2 * t4) = F2{dva[0][nd][2 * r], dva[0][nd][2 * r + 1]};
    }
  }
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__device__ void swiglu(const T* g, const T* u, T* out, i64 n) {
  GRID_STRIDE_U(base, n) {
    float gv[U], uv[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      gv[k] = i < n ? ld(g, i) : 0.f;
      uv[k] = i < n ? ld(u, i) : 0.f;
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) st(out, i, sigmoid(gv[k]) * gv[k] * uv[k]);
    }
  }
}

// da = dOut + tile(dt), dt (N, tr) or null; cols = F; out = silu(g)·u as swiglu computes it, or null
template <typename T>
__device__ void swigluBwd(const T* g, const T* u, const float* da, const float* dt, int tr, T* dg, T* du, T* out,
    int rows, int cols) {
  unsigned n = rows * cols;
  GRID_STRIDE_U(base, n) {
    float gv[U], uv[U], av[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      bool in = i < n;
      gv[k] = in ? ld(g, i) : 0.f;
      uv[k] = in ? ld(u, i) : 0.f;
      av[k] = in ? da[i] : 0.f;
      if (dt && in) {
        unsigned row = i / cols;
        av[k] += dt[row * tr + (i - row * cols) % tr];
      }
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) {
        float x = gv[k], a = av[k], s = sigmoid(x), gs = x * s;
        st(du, i, s * x * a);
        st(dg, i, (s + gs - gs * s) * uv[k] * a);
        if (out) st(out, i, s * x * uv[k]);
      }
    }
  }
}

// one block per row of logits (rows, V): loss = w·(lse − logit[target]); grad = w·(softmax − onehot)·scale
template <typename TG>
__device__ void crossEntropy(const float* logits, const int* targets, const float* weights, float scale,
    float* rowLoss, TG* grad, int V) {
  i64 r = (i64) blockIdx.x * V;
  int target = targets[blockIdx.x];
  if (target < 0) {
    if (threadIdx.x == 0) rowLoss[blockIdx.x] = 0.f;
    if (grad) for (int j = threadIdx.x; j < V; j += blockDim.x) st(grad, r + j, 0.f);
    return;
  }
  float w = weights[blockIdx.x];
  float mx = -__int_as_float(0x7f800000);
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, logits[r + j]);
  mx = blockMax(mx);
  float sum = 0.f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(logits[r + j] - mx);
  sum = blockSum(sum);
  float lse = mx + logf(sum);
  if (threadIdx.x == 0) rowLoss[blockIdx.x] = w * (lse - logits[r + target]);
  if (grad)
    for (int j = threadIdx.x; j < V; j += blockDim.x)
      st(grad, r + j, w * (expf(logits[r + j] - lse) - (j == target ? 1.f : 0.f)) * scale);
}

// bat: out[o, i] = w[o, i] + blocks[o / r, o mod r, i mod r] = w + blocks[o·r + i mod r].
// Grid: y over rows o, x over a row's columns (U per thread): no division per element, and a mask
// for i mod r when r is a power of two (integer division made this kernel compute-bound).
template <typename T>
__device__ void batMergeInit(const T* w, const float* blocks, T* out, int O, int I, int r) {
  unsigned mask = (r & (r - 1)) == 0 ? (unsigned) r - 1 : 0u;
  for (unsigned o = blockIdx.y; o < (unsigned) O; o += gridDim.y) {
    const float* brow = blocks + o * r;
    unsigned row = o * I;
    for (unsigned c0 = blockIdx.x * blockDim.x + threadIdx.x; c0 < (unsigned) I; c0 += U * gridDim.x * blockDim.x) {
      float v[U];
#pragma unroll
      for (int k = 0; k < U; k++) {
        unsigned c = AT(c0, k);
        if (c < (unsigned) I) v[k] = ld(w, row + c) + brow[mask ? (c & mask) : c % r];
      }
#pragma unroll
      for (int k = 0; k < U; k++) {
        unsigned c = AT(c0, k);
        if (c < (unsigned) I) st(out, row + c, v[k]);
      }
    }
  }
}

// bat: dB[a, q, s] += Σ_b m[a·r + q, b·r + s], thread per (o = a·r + q, s)
template <typename T>
__device__ void batIdentityGrad(const T* m, float* dB, int O, int I, int r) {
  GRID_STRIDE(k, O * r) {
    unsigned o = k / r, s = k - o * r;
    float acc = 0.f;
#pragma unroll 4
    for (unsigned c = s; c < (unsigned) I; c += r) acc += ld(m, o * I + c);
    dB[k] += acc;
  }
}

// bat's identity gradient for bf16 m when r divides 256 and I is a multiple of 8: one warp per row
// o; lane l reads 8 columns at a time (16 bytes), always the columns ≡ 8·l (mod r), and the lanes
// holding the same columns add their sums at the end. The same sums as batIdentityGrad, in
// another order.
__device__ void batIdentityGradV(const bf16* m, float* dB, int O, int I, int r) {
  int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (o >= O) return;  // the whole warp
  int lane = threadIdx.x & 31;
  float v[8];
#pragma unroll
  for (int x = 0; x < 8; x++) v[x] = 0.f;
  const bf16* row = m + (i64) o * I;
  for (int c0 = lane * 8; c0 < I; c0 += 4 * 256) {  // 4 loads in flight per lane
    U4 q[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      int c = c0 + 256 * k;
      q[k] = c < I ? *(const U4*) (row + c) : U4{0u, 0u, 0u, 0u};
    }
#pragma unroll
    for (int k = 0; k < 4; k++) {
      unsigned u[4] = {q[k].x, q[k].y, q[k].z, q[k].w};
#pragma unroll
      for (int x = 0; x < 4; x++) {
        v[2 * x] += __uint_as_float(u[x] << 16);
        v[2 * x + 1] += __uint_as_float(u[x] & 0xffff0000u);
      }
    }
  }
  for (int off = r / 8; off < 32; off <<= 1) {
#pragma unroll
    for (int x = 0; x < 8; x++) v[x] += __shfl_xor_sync(0xffffffffu, v[x], off);
  }
  if (lane < r / 8) {
    float* d = dB + (i64) o * r + lane * 8;
#pragma unroll
    for (int x = 0; x < 8; x++) d[x] += v[x];
  }
}

// bat's whole merge on tensor cores, bf16, sm_80 and later, R = r in {32, 64, 128}:
//   out[a·R + p, b·R + s] = w[a·R + p, b·R + s] + blocks[a, p, s] + Σ_t w[a·R + p, b·R + t] · bAct[a, t, s]
// The band a of W (R rows) read as (I, R) row-major is the view V: row j = p·Q + b (Q = I/R) holds
// the R columns of W_{a,b} in row p, so out's view is V + blocks[a, j / Q, :] + V · bAct_a. One
// warp computes 16 rows of it (mma.sync m16n8k16, bf16 products, float32 sums), the blocks
// (gridDim.y) are the bands a. Read once, written once: one pass over W instead of three.
//
// The sum over t may run in any order as long as A and B agree: lane quad t4 = lane % 4 owns the
// columns phys(t4, e) = 32·(e / 8) + 8·t4 + e % 8, e < R/4; at k-step ks it uses e = 4ks .. 4ks+3,
// four adjacent columns, one 8-byte load, as its fragment's k = 2t4, 2t4+1 (a0, b0) and 2t4+8,
// 2t4+9 (a2, b1). bs holds bAct_a transposed in that order: bs[n][t4·R/4 + e] = bAct[a, phys, n].


// bat's merge, shared by batMergeMma and batMergePipe: bs = bAct_a transposed in the order the
// fragments read it (see above), from 16-byte chunks (8 consecutive n of one k = phys(t4, e)), up to
// 8 chunks per thread in flight before they are scattered, by the block's THREADS threads.
template <int R, int THREADS>
__device__ __forceinline__ void batMergeFillB(bf16* bs, const bf16* bb) {
  constexpr int LDB = R + 4;
  constexpr int CHB = R * R / 8 / THREADS;
  constexpr int GRP = CHB < 8 ? CHB : 8;
#pragma unroll
  for (int g0 = 0; g0 < CHB; g0 += GRP) {
    U4 tmp[GRP];
#pragma unroll
    for (int v = 0; v < GRP; v++) tmp[v] = *(const U4*) (bb + 8 * (threadIdx.x + THREADS * (g0 + v)));
#pragma unroll
    for (int v = 0; v < GRP; v++) {
      int i0 = 8 * (threadIdx.x + THREADS * (g0 + v)), k = i0 / R, n0 = i0 - k * R;
      int col = ((k >> 3) & 3) * (R / 4) + (k >> 5) * 8 + (k & 7);
      unsigned q[4] = {tmp[v].x, tmp[v].y, tmp[v].z, tmp[v].w};
#pragma unroll
      for (int x = 0; x < 4; x++) {
        bs[(n0 + 2 * x) * LDB + col] = (bf16) (q[x] & 0xffffu);
        bs[(n0 + 2 * x + 1) * LDB + col] = (bf16) (q[x] >> 16);
      }
    }
  }
}

// One tile of 16 view rows (j0 ..), in shared memory with rows of R + 8, rewritten in place by one
// warp as its merged values: tile + blocks[a, j / Q, :] + tile · bAct_a (bs filled).
template <int R>
__device__ __forceinline__ void batMergeTile(bf16* wt, const bf16* bs, const float* blocks, int a, int Q, int j0,
    int g, int t4) {
  constexpr int LD = R + 8, LDB = R + 4;
  float acc[R / 8][4];
#pragma unroll
  for (int nt = 0; nt < R / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
  for (int ks = 0; ks < R / 16; ks++) {
    int col = 32 * (ks >> 1) + 8 * t4 + 4 * (ks & 1);  // phys(t4, 4ks)
    U2 lo = *(const U2*) (wt + g * LD + col);
    U2 hi = *(const U2*) (wt + (g + 8) * LD + col);
#pragma unroll
    for (int nt = 0; nt < R / 8; nt++) {
      U2 b = *(const U2*) (bs + (nt * 8 + g) * LDB + t4 * (R / 4) + 4 * ks);
      mma16816(acc[nt], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
    }
  }
  __syncwarp();  // every lane's fragments are read: the tile may be overwritten
#pragma unroll
  for (int h = 0; h < 2; h++) {
    int row = g + 8 * h;
    const float* f = blocks + ((i64) a * R + (j0 + row) / Q) * R + 2 * t4;
#pragma unroll
    for (int nt = 0; nt < R / 8; nt++) {
      unsigned* cell = (unsigned*) (wt + row * LD + nt * 8 + 2 * t4);
      unsigned wv = *cell;
      F2 fb = *(const F2*) (f + nt * 8);
      float v0 = (__uint_as_float(wv << 16) + fb.x) + acc[nt][2 * h];
      float v1 = (__uint_as_float(wv & 0xffff0000u) + fb.y) + acc[nt][2 * h + 1];
      *cell = (unsigned) f2bf(v0) | ((unsigned) f2bf(v1) << 16);
    }
  }
}

template <int R, int WARPS>
__device__ void batMergeMma(const bf16* w, const float* blocks, const bf16* bAct, bf16* out, int I) {
  constexpr int LD = R + 8;    // padded rows of a tile (bf16): conflict-free epilogue and chunk copies
  constexpr int LDB = R + 4;   // padded rows of bs: a half-warp's B fragment loads hit 32 distinct banks
  constexpr int CH = R / 8;    // 16-byte chunks per view row
  constexpr int THREADS = 32 * WARPS;
  __shared__ alignas(16) bf16 bs[R * LDB];
  __shared__ alignas(16) bf16 ws[WARPS * 16 * LD];
  const int a = blockIdx.y, Q = I / R, tiles = I / 16;
  const bf16* wb = w + (i64) a * R * I;
  bf16* ob = out + (i64) a * R * I;
  const bf16* bb = bAct + (i64) a * R * R;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
  bf16* wt = ws + warp * 16 * LD;
  // a tile is 16·CH chunks, R/16 per lane (chunk i = lane + 32·u); the next tile's are loaded into
  // registers while this one is computed, the first one's while bs is filled
  constexpr int PER = R / 16;
  const int stride = gridDim.x * WARPS;
  int tile = blockIdx.x * WARPS + warp;
  U4 next[PER];
  if (tile < tiles) {
#pragma unroll
    for (int u = 0; u < PER; u++) {
      int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
      next[u] = *(const U4*) (wb + (i64) (tile * 16 + row) * R + ch * 8);
    }
  }
  batMergeFillB<R, THREADS>(bs, bb);
  __syncthreads();
  for (; tile < tiles; tile += stride) {
    const int j0 = tile * 16;
#pragma unroll
    for (int u = 0; u < PER; u++) {
      int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
      *(U4*) (wt + row * LD + ch * 8) = next[u];
    }
    __syncwarp();
    if (tile + stride < tiles) {
#pragma unroll
      for (int u = 0; u < PER; u++) {
        int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
        next[u] = *(const U4*) (wb + (i64) ((tile + stride) * 16 + row) * R + ch * 8);
      }
    }
    batMergeTile<R>(wt, bs, blocks, a, Q, j0, g, t4);
    __syncwarp();
#pragma unroll
    for (int u = 0; u < PER; u++) {
      int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
      *(U4*) (ob + (i64) (j0 + row) * R + ch * 8) = *(const U4*) (wt + row * LD + ch * 8);
    }
    __syncwarp();  // stored before the next tile is loaded
  }
}

// Asynchronous 16-byte copies global -> shared (sm_80 and later), grouped and waited for in order,
// and the transposing 4-matrix shared-memory fragment load of the tensor-core instructions.
__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned s = (unsigned) __cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(s), "l"(gmem));
#elif defined(BONESTREAM_HOST_EMULATION)
  memcpy(smem, gmem, 16);
#endif
}
__device__ __forceinline__ void cpAsyncCommit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" :: "n"(N));
#endif
}
__device__ __forceinline__ void ldmatrixX4Trans(unsigned* r, const void* smem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned s = (unsigned) __cvta_generic_to_shared(smem);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
#elif defined(BONESTREAM_HOST_EMULATION)
  emu::ldmatrixX4Trans(r, smem);
#endif
}

// batMergeMma with the tiles of W staged through shared memory by cp.async, STAGES deep per warp
// (batMergeMma keeps one tile in flight, in registers), each warp going through its tiles of the
// band with a stride of the x grid: the same arithmetic in the same order, so the same bits.
template <int R, int WARPS, int STAGES>
__device__ void batMergePipe(const bf16* w, const float* blocks, const bf16* bAct, bf16* out, int I) {
  constexpr int LD = R + 8, LDB = R + 4, CH = R / 8, THREADS = 32 * WARPS, PER = R / 16;
  __shared__ alignas(16) bf16 bs[R * LDB];
  __shared__ alignas(16) bf16 ws[WARPS * STAGES * 16 * LD];
  const int a = blockIdx.y, Q = I / R, tiles = I / 16;
  const bf16* wb = w + (i64) a * R * I;
  bf16* ob = out + (i64) a * R * I;
  const bf16* bb = bAct + (i64) a * R * R;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
  bf16* wt0 = ws + warp * STAGES * 16 * LD;
  const int stride = gridDim.x * WARPS, tile0 = blockIdx.x * WARPS + warp;
  const int count = tile0 < tiles ? (tiles - tile0 + stride - 1) / stride : 0;
  auto load = [&](int k) {
    bf16* dst = wt0 + (k % STAGES) * 16 * LD;
    const bf16* src = wb + (i64) (tile0 + k * stride) * 16 * R;
#pragma unroll
    for (int u = 0; u < PER; u++) {
      int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
      cpAsync16(dst + row * LD + ch * 8, src + row * R + ch * 8);
    }
  };
#pragma unroll
  for (int k = 0; k < STAGES - 1; k++) {
    if (k < count) load(k);
    cpAsyncCommit();
  }
  batMergeFillB<R, THREADS>(bs, bb);
  __syncthreads();
  for (int k = 0; k < count; k++) {
    cpAsyncWait<STAGES - 2>();
    __syncwarp();  // every lane's copies of tile k have landed
    if (k + STAGES - 1 < count) load(k + STAGES - 1);  // into tile k - 1's stage, stored already
    cpAsyncCommit();
    bf16* wt = wt0 + (k % STAGES) * 16 * LD;
    const int j0 = (tile0 + k * stride) * 16;
    batMergeTile<R>(wt, bs, blocks, a, Q, j0, g, t4);
    __syncwarp();
#pragma unroll
    for (int u = 0; u < PER; u++) {
      int i = lane + 32 * u, row = i / CH, ch = i - row * CH;
      *(U4*) (ob + (i64) (j0 + row) * R + ch * 8) = *(const U4*) (wt + row * LD + ch * 8);
    }
    __syncwarp();  // read out before the stage is refilled
  }
}

// bat's dB of one projection with both terms in one pass over W and M, bf16, R in {32, 64, 128},
// sm_80 and later (the same sums as the batched GEMM of the band views plus batIdentityGrad):
//   part[split, a, t, s] = Σ_{view rows j of the split} (V_a[j, t] + [j / Q == t]) · MV_a[j, s]
// V_a and MV_a are band a of w and m read as (I, R) (see batMergeMma), Q = I / R. Block (split, a)
// goes through tiles of 16 view rows of both, staged in shared memory by cp.async; warp v owns the
// output rows t in [16v, 16v + 16): A = V tileᵀ and B = MV tile come by ldmatrix.trans, and the
// identity term is an mma whose A (0 or 1, exact in bf16) is made from the indices, in the warps
// whose rows meet the tile's j / Q. Products exact, sums float32; splits are added by
// bat_block_grad_reduce in a fixed order (deterministic).
template <int R>
__device__ void batBlockGrad(const bf16* w, const bf16* m, float* part, int I, int perSplit) {
  constexpr int WARPS = R / 16, THREADS = 32 * WARPS, LD = R + 8, STAGES = 4, CH = R / 8;
  constexpr int TILE = 16 * CH;  // 16-byte chunks of one operand's tile
  __shared__ alignas(16) bf16 sv[STAGES * 16 * LD];
  __shared__ alignas(16) bf16 sm[STAGES * 16 * LD];
  const int a = blockIdx.y, Q = I / R, tiles = I / 16;
  const int first = blockIdx.x * perSplit;
  const int count = min(tiles, first + perSplit) - first;
  const bf16* wb = w + (i64) a * R * I;
  const bf16* mb = m + (i64) a * R * I;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
  auto load = [&](int k) {
    const i64 base = (i64) (first + k) * 16 * R;
    const int st = (k % STAGES) * 16 * LD;
#pragma unroll
    for (int c = threadIdx.x; c < 2 * TILE; c += THREADS) {
      int op = c >= TILE, i = c - op * TILE, row = i / CH, ch = i - row * CH;
      cpAsync16((op ? sm : sv) + st + row * LD + ch * 8, (op ? mb : wb) + base + row * R + ch * 8);
    }
  };
#pragma unroll
  for (int k = 0; k < STAGES - 1; k++) {
    if (k < count) load(k);
    cpAsyncCommit();
  }
  float acc[R / 8][4];
#pragma unroll
  for (int nt = 0; nt < R / 8; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
  const int t0 = 16 * warp, mat = lane >> 3, rr = lane & 7;
  for (int k = 0; k < count; k++) {
    cpAsyncWait<STAGES - 2>();
    __syncthreads();  // tile k is in for every warp, and every warp is done with tile k - 1
    if (k + STAGES - 1 < count) load(k + STAGES - 1);
    cpAsyncCommit();
    const bf16* v = sv + (k % STAGES) * 16 * LD;
    const bf16* mm = sm + (k % STAGES) * 16 * LD;
    // A[t, j] = V[j, t]: matrices (rows j 0-7 | 8-15) x (columns t0 | t0 + 8) as a0..a3
    unsigned af[4];
    ldmatrixX4Trans(af, v + ((mat >> 1) * 8 + rr) * LD + t0 + (mat & 1) * 8);
    // the identity's A, where this warp's rows meet the tile's t = j / Q
    const int j0 = (first + k) * 16;
    const bool eye = (j0 + 15) / Q >= t0 && j0 / Q < t0 + 16;
    unsigned ef[4] = {0u, 0u, 0u, 0u};
    if (eye) {
#pragma unroll
      for (int q = 0; q < 4; q++) {
        int row = t0 + g + 8 * (q & 1), kk = 2 * t4 + 8 * (q >> 1);
        ef[q] = ((j0 + kk) / Q == row ? 0x3F80u : 0u) | ((j0 + kk + 1) / Q == row ? 0x3F800000u : 0u);
      }
    }
#pragma unroll
    for (int np = 0; np < R / 16; np++) {
      // B[j, s] = MV[j, s]: (rows 0-7 | 8-15) of columns 16np, then of 16np + 8
      unsigned bf[4];
      ldmatrixX4Trans(bf, mm + ((mat & 1) * 8 + rr) * LD + 16 * np + (mat >> 1) * 8);
      mma16816(acc[2 * np], af[0], af[1], af[2], af[3], bf[0], bf[1]);
      mma16816(acc[2 * np + 1], af[0], af[1], af[2], af[3], bf[2], bf[3]);
      if (eye) {
        mma16816(acc[2 * np], ef[0], ef[1], ef[2], ef[3], bf[0], bf[1]);
        mma16816(acc[2 * np + 1], ef[0], ef[1], ef[2], ef[3], bf[2], bf[3]);
      }
    }
  }
  float* o = part + ((i64) blockIdx.x * gridDim.y + a) * R * R;
#pragma unroll
  for (int nt = 0; nt < R / 8; nt++) {
    int s = 8 * nt + 2 * t4;
    *(F2*) (o + (t0 + g) * R + s) = F2{acc[nt][0], acc[nt][1]};
    *(F2*) (o + (t0 + g + 8) * R + s) = F2{acc[nt][2], acc[nt][3]};
  }
}

template <typename T>
__device__ void addBias(T* y, const float* bias, int rows, int cols) {
  GRID_STRIDE(i, rows * cols) st(y, i, ld(y, i) + bias[i % cols]);
}

template <typename TI, typename TO>
__device__ void convert(const TI* in, TO* out, i64 n) {
  GRID_STRIDE_U(base, n) {
    float v[U];
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      v[k] = i < n ? ld(in, i) : 0.f;
    }
#pragma unroll
    for (int k = 0; k < U; k++) {
      unsigned i = AT(base, k);
      if (i < n) st(out, i, v[k]);
    }
  }
}

__device__ __forceinline__ unsigned long long mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// N(0, std²) for counter offset + i: SplitMix64, then Box–Muller (RandomNormal.java)
template <typename T>
__device__ void randomNormal(T* out, i64 n, i64 offset, float std, unsigned long long seed) {
  GRID_STRIDE(i, n) {
    unsigned long long h = mix64(seed + (unsigned long long) (offset + (i64) i + 1) * 0x9E3779B97F4A7C15ull);
    float u1 = (float) ((h >> 40) + 1) * 5.9604644775390625e-8f;       // (0, 1]
    float u2 = (float) ((h >> 16) & 0xffffffull) * 5.9604644775390625e-8f; // [0, 1)
    st(out, i, std * (sqrtf(-2.f * logf(u1)) * cosf(6.283185307179586f * u2)));
  }
}

#define F float
#define B bf16
#define K extern "C" __global__ void

K embed_f(const int* ids, const F* t, float* o, int rows, int dim) { embed(ids, t, o, rows, dim); }
K embed_b(const int* ids, const B* t, float* o, int rows, int dim) { embed(ids, t, o, rows, dim); }

K rmsnorm_fwd_f(const float* x, const float* w, float eps, F* o, float* inv, int dim) { rmsnormFwd(x, w, eps, o, inv, dim); }
K rmsnorm_fwd_b(const float* x, const float* w, float eps, B* o, float* inv, int dim) { rmsnormFwd(x, w, eps, o, inv, dim); }
K rmsnorm_bwd_f(const float* x, const float* w, const float* inv, const float* dy, const float* dt, int tr,
    float* dx, F* dxa, int dim, int acc) { rmsnormBwd(x, w, inv, dy, dt, tr, dx, dxa, dim, acc); }
K rmsnorm_bwd_b(const float* x, const float* w, const float* inv, const float* dy, const float* dt, int tr,
    float* dx, B* dxa, int dim, int acc) { rmsnormBwd(x, w, inv, dy, dt, tr, dx, dxa, dim, acc); }

#define TO_HEADS(name, TI, TO) K name(const TI* in, const float* dt, int tr, const float* c, const float* s, \
    TO* out, int t, int h, int hd, int flag) { toHeads(in, dt, tr, c, s, out, t, h, hd, flag); }
TO_HEADS(to_heads_ff, F, F)
TO_HEADS(to_heads_bb, B, B)
TO_HEADS(to_heads_fb, F, B)
#define HEADS(name, fn, TI, TO) K name(const TI* in, const float* c, const float* s, TO* out, int t, int h, \
    int hd, int flag) { fn(in, c, s, out, t, h, hd, flag); }
HEADS(from_heads_ff, fromHeads, F, F)
HEADS(from_heads_bb, fromHeads, B, B)
HEADS(from_heads_fb, fromHeads, F, B)

// attention: <kernel>_<t>_<HD>, ATT_WARPS warps per block
#define ATTENTION(t, T, HD) \
  K attn_fwd_##t##_##HD(const T* q, const T* k, const T* v, T* o, float* lse, int hkv, int g, int n, int hd, \
      float scale) { attentionFwd<T, HD>(q, k, v, o, lse, hkv, g, n, hd, scale); } \
  K attn_bwd_dq_##t##_##HD(const T* q, const T* k, const T* v, const T* dout, const float* lse, float* dq, \
      float* dd, int hkv, int g, int n, int hd, float scale) { \
    attentionBwdDq<T, HD>(q, k, v, dout, lse, dq, dd, hkv, g, n, hd, scale); } \
  K attn_bwd_dkv_##t##_##HD(const T* q, const T* k, const T* v, const T* dout, const float* lse, \
      const float* dd, float* dk, float* dv, int hkv, int g, int n, int hd, float scale) { \
    attentionBwdDkv<T, HD>(q, k, v, dout, lse, dd, dk, dv, hkv, g, n, hd, scale); }
ATTENTION(f, F, 32)
ATTENTION(f, F, 64)
ATTENTION(f, F, 128)
ATTENTION(f, F, 256)
ATTENTION(b, B, 32)
ATTENTION(b, B, 64)
ATTENTION(b, B, 128)
ATTENTION(b, B, 256)

// attention on tensor cores: attn_tc_<kernel>_<HD>, bf16, hd = HD, TC_WARPS warps per block
#define ATTENTION_TC(HD) \
  K attn_tc_fwd_##HD(const B* q, const B* k, const B* v, B* o, float* lse, int hkv, int g, int n, int hd, \
      float scale) { attentionFwdTc<HD, 1>(q, k, v, o, lse, hkv, g, n, scale); } \
  K attn_tc_bwd_dq_##HD(const B* q, const B* k, const B* v, const B* dout, const float* lse, float* dq, \
      float* dd, int hkv, int g, int n, int hd, float scale) { \
    attentionBwdDqTc<HD, 1>(q, k, v, dout, lse, dq, dd, hkv, g, n, scale); } \
  K attn_tc_bwd_dkv_##HD(const B* q, const B* k, const B* v, const B* dout, const float* lse, \
      const float* dd, float* dk, float* dv, int hkv, int g, int n, int hd, float scale) { \
    attentionBwdDkvTc<HD>(q, k, v, dout, lse, dd, dk, dv, hkv, g, n, scale); }
ATTENTION_TC(64)
ATTENTION_TC(128)
// the forward pass and dq with two tiles of 16 query rows per warp (128 rows per block): each B
// fragment serves two products (half the shared-memory reads per product). dk/dv keep one tile of
// keys per warp, and dq at hd 128 one tile of rows: two would spill (nvcc, sm_90: 412 bytes).
#define ATTENTION_TC2_FWD(HD) \
  K attn_tc2_fwd_##HD(const B* q, const B* k, const B* v, B* o, float* lse, int hkv, int g, int n, int hd, \
      float scale) { attentionFwdTc<HD, 2>(q, k, v, o, lse, hkv, g, n, scale); }
#define ATTENTION_TC2_DQ(HD) \
  K attn_tc2_bwd_dq_##HD(const B* q, const B* k, const B* v, const B* dout, const float* lse, float* dq, \
      float* dd, int hkv, int g, int n, int hd, float scale) { \
    attentionBwdDqTc<HD, 2>(q, k, v, dout, lse, dq, dd, hkv, g, n, scale); }
ATTENTION_TC2_FWD(64)
ATTENTION_TC2_FWD(128)
ATTENTION_TC2_DQ(64)

K swiglu_f(const F* g, const F* u, F* o, i64 n) { swiglu(g, u, o, n); }
K swiglu_b(const B* g, const B* u, B* o, i64 n) { swiglu(g, u, o, n); }
K swiglu_bwd_f(const F* g, const F* u, const float* da, const float* dt, int tr, F* dg, F* du, F* o, int rows,
    int cols) { swigluBwd(g, u, da, dt, tr, dg, du, o, rows, cols); }
K swiglu_bwd_b(const B* g, const B* u, const float* da, const float* dt, int tr, B* dg, B* du, B* o, int rows,
    int cols) { swigluBwd(g, u, da, dt, tr, dg, du, o, rows, cols); }

K cross_entropy_f(const float* l, const int* t, const float* w, float sc, float* loss, F* g, int v) {
  crossEntropy(l, t, w, sc, loss, g, v); }
K cross_entropy_b(const float* l, const int* t, const float* w, float sc, float* loss, B* g, int v) {
  crossEntropy(l, t, w, sc, loss, g, v); }

K bat_merge_init_f(const F* w, const float* bl, F* o, int O, int I, int r) { batMergeInit(w, bl, o, O, I, r); }
K bat_merge_init_b(const B* w, const float* bl, B* o, int O, int I, int r) { batMergeInit(w, bl, o, O, I, r); }
K bat_identity_grad_f(const F* m, float* db, int O, int I, int r) { batIdentityGrad(m, db, O, I, r); }
K bat_identity_grad_b(const B* m, float* db, int O, int I, int r) { batIdentityGrad(m, db, O, I, r); }

K bat_identity_grad_v_b(const B* m, float* db, int O, int I, int r) { batIdentityGradV(m, db, O, I, r); }
// 4 warps (2 for R = 128: shared memory) per block
K bat_merge_mma_32(const B* w, const float* bl, const B* ba, B* o, int I) { batMergeMma<32, 4>(w, bl, ba, o, I); }
K bat_merge_mma_64(const B* w, const float* bl, const B* ba, B* o, int I) { batMergeMma<64, 4>(w, bl, ba, o, I); }
K bat_merge_mma_128(const B* w, const float* bl, const B* ba, B* o, int I) { batMergeMma<128, 2>(w, bl, ba, o, I); }

// batMergeMma with cp.async stages: 4 warps, 3 stages (4 measured no faster)
K bat_merge_pipe_32(const B* w, const float* bl, const B* ba, B* o, int I) { batMergePipe<32, 4, 3>(w, bl, ba, o, I); }
K bat_merge_pipe_64(const B* w, const float* bl, const B* ba, B* o, int I) { batMergePipe<64, 4, 3>(w, bl, ba, o, I); }
// R / 16 warps per block
K bat_block_grad_32(const B* w, const B* m, float* part, int I, int per) { batBlockGrad<32>(w, m, part, I, per); }
K bat_block_grad_64(const B* w, const B* m, float* part, int I, int per) { batBlockGrad<64>(w, m, part, I, per); }
K bat_block_grad_128(const B* w, const B* m, float* part, int I, int per) { batBlockGrad<128>(w, m, part, I, per); }
// dB[i] += Σ_s part[s, i], s in order
K bat_block_grad_reduce(const float* part, float* db, int n, int splits) {
  GRID_STRIDE(i, n) {
    float acc = 0.f;
    for (int s = 0; s < splits; s++) acc += part[(i64) s * n + i];
    db[i] += acc;
  }
}

K add_bias_f(F* y, const float* b, int rows, int cols) { addBias(y, b, rows, cols); }
K add_bias_b(B* y, const float* b, int rows, int cols) { addBias(y, b, rows, cols); }

K convert_fb(const F* in, B* out, i64 n) { convert(in, out, n); }
K convert_bf(const B* in, F* out, i64 n) { convert(in, out, n); }

K random_normal_f(F* o, i64 n, i64 off, float std, unsigned long long seed) { randomNormal(o, n, off, std, seed); }
K random_normal_b(B* o, i64 n, i64 off, float std, unsigned long long seed) { randomNormal(o, n, off, std, seed); }

// Σ x² per block (fixed grid: deterministic); the host sums the partials in float64
K sum_squares(const float* x, i64 n, float* partials) {
  float acc = 0.f;
  GRID_STRIDE(i, n) { float v = x[i]; acc += v * v; }
  acc = blockSum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// PyTorch AdamW (decoupled weight decay, bias-corrected moments); g' = g · gscale
K adamw(float* p, const float* g, float* m, float* v, i64 n, float lr, float b1, float b2, float eps, float wd,
    float bias1, float sqrtBias2, float gscale) {
  GRID_STRIDE(i, n) {
    float gi = gscale == 1.f ? g[i] : g[i] * gscale;
    float pi = p[i];
    if (wd != 0.f) pi = pi * (1.f - lr * wd);
    float mi = m[i] * b1 + gi * (1.f - b1);
    float vi = v[i] * b2 + gi * gi * (1.f - b2);
    float denom = sqrtf(vi) / sqrtBias2 + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - mi / denom * (lr / bias1);
  }
}

// PyTorch SGD without momentum: g' = g · gscale + wd · p; p −= lr · g'
K sgd(float* p, const float* g, i64 n, float lr, float wd, float gscale) {
  GRID_STRIDE(i, n) {
    float gi = gscale == 1.f ? g[i] : g[i] * gscale;
    if (wd != 0.f) gi += p[i] * wd;
    p[i] = p[i] - gi * lr;
  }
}
