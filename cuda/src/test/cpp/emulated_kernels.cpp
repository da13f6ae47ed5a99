// Checks kernels of kernels.cu on the CPU (kernel_emulator.h) against float64 references written
// here from the formulas in kernels.cu's comments and Device's contracts:
//   1. the tensor-core kernels already verified on a GPU (bat's merge and block gradient), which
//      checks the emulator's mma.sync, ldmatrix and cp.async against real hardware's results;
//   2. the fused attention kernels, forward and backward, float32 and bfloat16, on CUDA cores and
//      on tensor cores, at sizes that are not multiples of a tile.
// Prints one line per check; exits 1 if any is outside its bound.
//
// Build: g++ -std=c++17 -O2 -I <dir of kernels.cu> emulated_kernels.cpp (KernelEmulationTest does).
#include "kernel_emulator.h"
#include "kernels.cu"

#include <algorithm>
#include <string>

namespace {

int failures = 0;

unsigned short toBf16(float f) {
  unsigned x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (unsigned short) ((x >> 16) | 0x40u);
  return (unsigned short) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
float fromBf16(unsigned short b) { return __uint_as_float(((unsigned) b) << 16); }

struct Rng {
  unsigned long long s;
  explicit Rng(unsigned long long seed) : s(seed) {}
  double uniform() {  // [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (double) (s >> 11) / (double) (1ull << 52) - 1.0;
  }
};

// Values representable in bf16 (so that the f and b kernels see the same inputs).
std::vector<float> randomValues(size_t n, double scale, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = fromBf16(toBf16((float) (rng.uniform() * scale)));
  return v;
}
std::vector<unsigned short> asBf16(const std::vector<float>& v) {
  std::vector<unsigned short> b(v.size());
  for (size_t i = 0; i < v.size(); i++) b[i] = toBf16(v[i]);
  return b;
}
std::vector<float> fromBf16(const std::vector<unsigned short>& b) {
  std::vector<float> v(b.size());
  for (size_t i = 0; i < b.size(); i++) v[i] = fromBf16(b[i]);
  return v;
}

double relativeL2(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); i++) {
    double d = (double) got[i] - want[i];
    if (!std::isfinite((double) got[i])) return INFINITY;
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

void report(const std::string& name, double error, double bound) {
  bool ok = error <= bound;
  if (!ok) failures++;
  std::printf("%-4s %-58s error %.3e  bound %.1e\n", ok ? "ok" : "FAIL", name.c_str(), error, bound);
}

// ---- 1. bat's tensor-core merge and block gradient (verified on an H200) ----

void batMerge(bool pipe) {
  const int R = 32, bands = 2, O = R * bands, I = 4 * R, Q = I / R;
  Rng rng(7);
  std::vector<float> w = randomValues((size_t) O * I, 1.0, rng);
  std::vector<float> blocks = randomValues((size_t) bands * R * R, 0.1, rng);
  std::vector<float> bAct = randomValues((size_t) bands * R * R, 0.1, rng);
  std::vector<unsigned short> wb = asBf16(w), bb = asBf16(bAct), ob(w.size());
  emu::launch(2, bands, 128, [&] {
    if (pipe) {
      bat_merge_pipe_32(wb.data(), blocks.data(), bb.data(), ob.data(), I);
    } else {
      bat_merge_mma_32(wb.data(), blocks.data(), bb.data(), ob.data(), I);
    }
  });
  // out[a·R + p, b·R + s] = w[.., b·R + s] + blocks[a, p, s] + Σ_t w[a·R + p, b·R + t] · bAct[a, t, s]
  std::vector<double> want(w.size());
  for (int a = 0; a < bands; a++)
    for (int p = 0; p < R; p++)
      for (int b = 0; b < Q; b++)
        for (int s = 0; s < R; s++) {
          double acc = 0;
          for (int t = 0; t < R; t++) acc += (double) w[(size_t) (a * R + p) * I + b * R + t] * bAct[((size_t) a * R + t) * R + s];
          want[(size_t) (a * R + p) * I + b * R + s] = w[(size_t) (a * R + p) * I + b * R + s] + blocks[((size_t) a * R + p) * R + s] + acc;
        }
  report(pipe ? "bat_merge_pipe_32 (verified on a GPU)" : "bat_merge_mma_32 (verified on a GPU)",
      relativeL2(fromBf16(ob), want), 4e-3);
}

void batBlockGrad() {
  const int R = 32, bands = 2, O = R * bands, I = 8 * R, Q = I / R, tiles = I / 16, perSplit = 5;
  const int splits = (tiles + perSplit - 1) / perSplit;
  Rng rng(11);
  std::vector<float> w = randomValues((size_t) O * I, 1.0, rng), m = randomValues((size_t) O * I, 1.0, rng);
  std::vector<unsigned short> wb = asBf16(w), mb = asBf16(m);
  std::vector<float> part((size_t) splits * bands * R * R, NAN);
  emu::launch(splits, bands, 2 * R, [&] { bat_block_grad_32(wb.data(), mb.data(), part.data(), I, perSplit); });
  // part[split, a, t, s] = Σ_{view rows j of the split} (V_a[j, t] + [j / Q == t]) · MV_a[j, s]
  std::vector<double> want(part.size());
  for (int sp = 0; sp < splits; sp++)
    for (int a = 0; a < bands; a++)
      for (int t = 0; t < R; t++)
        for (int s = 0; s < R; s++) {
          double acc = 0;
          for (int j = sp * perSplit * 16; j < std::min(I, (sp + 1) * perSplit * 16); j++) {
            double v = w[(size_t) a * R * I + (size_t) j * R + t] + (j / Q == t ? 1.0 : 0.0);
            acc += v * m[(size_t) a * R * I + (size_t) j * R + s];
          }
          want[(((size_t) sp * bands + a) * R + t) * R + s] = acc;
        }
  report("bat_block_grad_32 (verified on a GPU)", relativeL2(part, want), 1e-6);
}

// ---- 2. fused causal attention ----

struct Shape {
  int batch, kvHeads, group, seq, hd;
  bool cudaCores = true;  // also check the CUDA-core kernels at this shape
};

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

// Causal attention with GQA (query head h reads kv head h / G), in float64.
Reference reference(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
    const std::vector<float>& v, const std::vector<float>& dOut, double scale) {
  const int H = s.kvHeads * s.group, T = s.seq, hd = s.hd;
  Reference r;
  r.out.assign(q.size(), 0);
  r.dq.assign(q.size(), 0);
  r.lse.assign((size_t) s.batch * H * T, 0);
  r.dk.assign(k.size(), 0);
  r.dv.assign(v.size(), 0);
  std::vector<double> p(T), dp(T);
  for (int b = 0; b < s.batch; b++)
    for (int h = 0; h < H; h++) {
      size_t qh = ((size_t) b * H + h) * T * hd, kh = ((size_t) b * s.kvHeads + h / s.group) * T * hd;
      for (int t = 0; t < T; t++) {
        double mx = -INFINITY;
        for (int j = 0; j <= t; j++) {
          double dot = 0;
          for (int d = 0; d < hd; d++) dot += (double) q[qh + t * hd + d] * k[kh + j * hd + d];
          p[j] = dot * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int j = 0; j <= t; j++) sum += std::exp(p[j] - mx);
        r.lse[((size_t) b * H + h) * T + t] = mx + std::log(sum);
        double dsum = 0;
        for (int j = 0; j <= t; j++) {
          p[j] = std::exp(p[j] - mx) / sum;
          double dot = 0;
          for (int d = 0; d < hd; d++) {
            r.out[qh + t * hd + d] += p[j] * v[kh + j * hd + d];
            dot += (double) dOut[qh + t * hd + d] * v[kh + j * hd + d];
          }
          dp[j] = dot;
          dsum += p[j] * dot;
        }
        for (int j = 0; j <= t; j++) {
          double ds = p[j] * (dp[j] - dsum) * scale;
          for (int d = 0; d < hd; d++) {
            r.dq[qh + t * hd + d] += ds * k[kh + j * hd + d];
            r.dk[kh + j * hd + d] += ds * q[qh + t * hd + d];
            r.dv[kh + j * hd + d] += p[j] * dOut[qh + t * hd + d];
          }
        }
      }
    }
  return r;
}

int width(int hd) { return hd <= 32 ? 32 : hd <= 64 ? 64 : hd <= 128 ? 128 : 256; }

std::string shapeName(const char* kind, const Shape& s) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s B%d Hkv%d G%d T%d hd%d", kind, s.batch, s.kvHeads, s.group, s.seq, s.hd);
  return buf;
}

struct Outputs {
  std::vector<float> out, lse, dq, dk, dv;
  std::vector<float> dd;  // D per row, from the dq kernel to the dk/dv one
};

// The outputs of one attention run at shape s, every value NaN until a kernel writes it.
Outputs unset(const Shape& s) {
  const size_t rows = (size_t) s.batch * s.kvHeads * s.group * s.seq;
  const size_t kvRows = (size_t) s.batch * s.kvHeads * s.seq;
  Outputs o;
  o.lse.assign(rows, NAN);
  o.dd.assign(rows, NAN);
  o.dq.assign(rows * s.hd, NAN);
  o.dk.assign(kvRows * s.hd, NAN);
  o.dv.assign(kvRows * s.hd, NAN);
  return o;
}

void compare(const std::string& name, const Outputs& o, const Reference& r, double bound, double lseBound) {
  report(name + " out", relativeL2(o.out, r.out), bound);
  double lseErr = 0;
  for (size_t i = 0; i < r.lse.size(); i++) lseErr = std::max(lseErr, std::fabs(o.lse[i] - r.lse[i]));
  report(name + " lse (max abs)", std::isfinite(lseErr) ? lseErr : INFINITY, lseBound);
  report(name + " dq", relativeL2(o.dq, r.dq), bound);
  report(name + " dk", relativeL2(o.dk, r.dk), bound);
  report(name + " dv", relativeL2(o.dv, r.dv), bound);
}

// The CUDA-core kernels attn_{fwd,bwd_dq,bwd_dkv}_<t>_<HD>, launched as CudaDevice launches them.
template <typename T>
Outputs cudaCore(const Shape& s, const std::vector<T>& q, const std::vector<T>& k, const std::vector<T>& v,
    const std::vector<T>& dOut, float scale) {
  const int H = s.kvHeads * s.group, T_ = s.seq, W = width(s.hd);
  std::vector<T> out(q.size());
  Outputs o = unset(s);
  using Fwd = void (*)(const T*, const T*, const T*, T*, float*, int, int, int, int, float);
  using Dq = void (*)(const T*, const T*, const T*, const T*, const float*, float*, float*, int, int, int, int, float);
  using Dkv = void (*)(const T*, const T*, const T*, const T*, const float*, const float*, float*, float*, int, int,
      int, int, float);
  Fwd fwd;
  Dq dq;
  Dkv dkv;
  if constexpr (sizeof(T) == 2) {
    fwd = W == 32 ? attn_fwd_b_32 : W == 64 ? attn_fwd_b_64 : W == 128 ? attn_fwd_b_128 : attn_fwd_b_256;
    dq = W == 32 ? attn_bwd_dq_b_32 : W == 64 ? attn_bwd_dq_b_64 : W == 128 ? attn_bwd_dq_b_128 : attn_bwd_dq_b_256;
    dkv = W == 32 ? attn_bwd_dkv_b_32 : W == 64 ? attn_bwd_dkv_b_64 : W == 128 ? attn_bwd_dkv_b_128 : attn_bwd_dkv_b_256;
  } else {
    fwd = W == 32 ? attn_fwd_f_32 : W == 64 ? attn_fwd_f_64 : W == 128 ? attn_fwd_f_128 : attn_fwd_f_256;
    dq = W == 32 ? attn_bwd_dq_f_32 : W == 64 ? attn_bwd_dq_f_64 : W == 128 ? attn_bwd_dq_f_128 : attn_bwd_dq_f_256;
    dkv = W == 32 ? attn_bwd_dkv_f_32 : W == 64 ? attn_bwd_dkv_f_64 : W == 128 ? attn_bwd_dkv_f_128 : attn_bwd_dkv_f_256;
  }
  emu::launch((T_ + 15) / 16, s.batch * H, 128, [&] {
    fwd(q.data(), k.data(), v.data(), out.data(), o.lse.data(), s.kvHeads, s.group, T_, s.hd, scale);
  });
  emu::launch((T_ + 15) / 16, s.batch * H, 128, [&] {
    dq(q.data(), k.data(), v.data(), dOut.data(), o.lse.data(), o.dq.data(), o.dd.data(), s.kvHeads, s.group, T_, s.hd,
        scale);
  });
  int keys = 4 * (W >= 256 ? 2 : W >= 128 ? 4 : 8);
  emu::launch((T_ + keys - 1) / keys, s.batch * s.kvHeads, 128, [&] {
    dkv(q.data(), k.data(), v.data(), dOut.data(), o.lse.data(), o.dd.data(), o.dk.data(), o.dv.data(), s.kvHeads,
        s.group, T_, s.hd, scale);
  });
  if constexpr (sizeof(T) == 2) {
    o.out = fromBf16(out);
  } else {
    o.out = out;
  }
  return o;
}

// The tensor-core kernels attn_tc_{fwd,bwd_dq,bwd_dkv}_<hd> (hd 64 or 128), launched as CudaDevice
// launches them: 4 warps, 64 query rows or keys per block; with twoTiles, attn_tc2_fwd_<hd> and (hd
// 64) attn_tc2_bwd_dq_64, 128 query rows per block.
Outputs tensorCores(const Shape& s, const std::vector<unsigned short>& q, const std::vector<unsigned short>& k,
    const std::vector<unsigned short>& v, const std::vector<unsigned short>& dOut, float scale, bool twoTiles) {
  const int H = s.kvHeads * s.group, T_ = s.seq;
  std::vector<unsigned short> out(q.size());
  Outputs o = unset(s);
  bool wide = s.hd == 128;
  auto fwd = twoTiles ? (wide ? attn_tc2_fwd_128 : attn_tc2_fwd_64) : (wide ? attn_tc_fwd_128 : attn_tc_fwd_64);
  int fwdRows = twoTiles ? 128 : 64;
  emu::launch((T_ + fwdRows - 1) / fwdRows, s.batch * H, 128, [&] {
    fwd(q.data(), k.data(), v.data(), out.data(), o.lse.data(), s.kvHeads, s.group, T_, s.hd, scale);
  });
  bool dq2 = twoTiles && !wide;
  auto dq = dq2 ? attn_tc2_bwd_dq_64 : (wide ? attn_tc_bwd_dq_128 : attn_tc_bwd_dq_64);
  int dqRows = dq2 ? 128 : 64;
  emu::launch((T_ + dqRows - 1) / dqRows, s.batch * H, 128, [&] {
    dq(q.data(), k.data(), v.data(), dOut.data(), o.lse.data(), o.dq.data(), o.dd.data(), s.kvHeads, s.group, T_,
        s.hd, scale);
  });
  emu::launch((T_ + 63) / 64, s.batch * s.kvHeads, 128, [&] {
    (wide ? attn_tc_bwd_dkv_128 : attn_tc_bwd_dkv_64)(q.data(), k.data(), v.data(), dOut.data(), o.lse.data(),
        o.dd.data(), o.dk.data(), o.dv.data(), s.kvHeads, s.group, T_, s.hd, scale);
  });
  o.out = fromBf16(out);
  return o;
}

void attention(const Shape& s) {
  const int H = s.kvHeads * s.group;
  Rng rng(1000 + s.seq * 7 + s.hd);
  size_t nq = (size_t) s.batch * H * s.seq * s.hd, nk = (size_t) s.batch * s.kvHeads * s.seq * s.hd;
  std::vector<float> q = randomValues(nq, 1.0, rng), k = randomValues(nk, 1.0, rng), v = randomValues(nk, 1.0, rng),
      dOut = randomValues(nq, 1.0, rng);
  float scale = 1.0f / std::sqrt((float) s.hd);
  Reference r = reference(s, q, k, v, dOut, scale);
  if (s.cudaCores) {
    compare(shapeName("attn cuda cores f32", s), cudaCore<float>(s, q, k, v, dOut, scale), r, 1e-5, 1e-5);
    compare(shapeName("attn cuda cores bf16", s),
        cudaCore<unsigned short>(s, asBf16(q), asBf16(k), asBf16(v), asBf16(dOut), scale), r, 6e-3, 2e-3);
  }
  if (s.hd == 64 || s.hd == 128) {
    compare(shapeName("attn tensor cores bf16", s),
        tensorCores(s, asBf16(q), asBf16(k), asBf16(v), asBf16(dOut), scale, false), r, 6e-3, 2e-3);
    compare(shapeName("attn tensor cores x2 bf16", s),
        tensorCores(s, asBf16(q), asBf16(k), asBf16(v), asBf16(dOut), scale, true), r, 6e-3, 2e-3);
  }
}

}  // namespace

int main() {
  batMerge(false);
  batMerge(true);
  batBlockGrad();
  for (Shape s : {Shape{1, 1, 1, 5, 8}, Shape{2, 1, 2, 33, 24}, Shape{1, 2, 2, 77, 64}, Shape{1, 1, 4, 130, 40},
           Shape{1, 1, 1, 70, 128}, Shape{1, 1, 1, 20, 160}, Shape{2, 2, 2, 150, 64, false},
           Shape{1, 1, 2, 97, 128, false}, Shape{1, 1, 1, 1, 64, false}, Shape{1, 1, 4, 65, 128, false}}) {
    attention(s);
  }
  std::printf("%s\n", failures == 0 ? "all checks passed" : "some checks FAILED");
  return failures == 0 ? 0 : 1;
}
