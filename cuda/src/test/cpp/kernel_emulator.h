// Runs kernels.cu on the CPU, for checking kernels where no GPU is at hand.
//
// One block at a time; each CUDA thread of the block is a coroutine on one OS thread (started with
// ucontext, then switched with _setjmp/_longjmp, which make no system call),
// switched only at the points where CUDA threads meet: __syncthreads, and the warp-collective
// operations (__syncwarp, __shfl_xor_sync, mma.sync, ldmatrix), which wait for the 32 lanes of
// their warp. Shared memory is the kernels' `__shared__` variables made `static` (one block runs at
// a time). The tensor-core operations follow the PTX ISA's fragment layouts and sum in float32 in
// k order; a real tensor core may sum in another order, so results agree within float32 rounding,
// not bit for bit. A barrier that some threads of a block (or lanes of a warp) never reach is
// reported as a deadlock, as a real GPU would hang on it.
//
// kernels.cu calls emu::mma16816, emu::ldmatrixX4Trans and memcpy for cp.async where
// BONESTREAM_HOST_EMULATION is defined (it is, by this header), in place of their PTX.
#pragma once

#include <setjmp.h>
#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#define BONESTREAM_HOST_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
// kernels.cu writes `__shared__ alignas(16) T x[n]`: standard C++ does not take an attribute after
// `static`, GNU C++ takes its own attribute there.
#define alignas(n) __attribute__((aligned(n)))

struct EmuDim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline EmuDim3 threadIdx, blockIdx, blockDim, gridDim;

inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

namespace emu {

constexpr size_t STACK = 256 * 1024;

struct Thread {
  ucontext_t ctx;
  jmp_buf jb;
  bool started = false;
  std::vector<char> stack;
  EmuDim3 idx;
  int wait = 0;  // 0: runnable, 1: at a warp barrier, 2: at the block barrier
  unsigned long gen = 0;
  bool done = false;
};

struct Block {
  std::vector<Thread> threads;
  jmp_buf scheduler;
  int current = 0;
  int blockArrived = 0;
  unsigned long blockGen = 0;
  std::vector<int> warpArrived;
  std::vector<unsigned long> warpGen;
  // per warp and lane: the words a warp-collective operation exchanges
  std::vector<unsigned> exchange;
  std::function<void()> body;
};
inline Block* block = nullptr;

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "emulator: %s (block %u,%u, thread %u)\n", what, blockIdx.x, blockIdx.y, threadIdx.x);
  std::exit(3);
}

inline void yieldToScheduler() {
  Thread& t = block->threads[block->current];
  if (!_setjmp(t.jb)) _longjmp(block->scheduler, 1);
}

inline void syncBlock() {
  Block& b = *block;
  Thread& t = b.threads[b.current];
  unsigned long gen = b.blockGen;
  if (++b.blockArrived == (int) b.threads.size()) {
    b.blockArrived = 0;
    b.blockGen++;
    return;
  }
  t.wait = 2;
  t.gen = gen;
  yieldToScheduler();
}

inline void syncWarp() {
  Block& b = *block;
  Thread& t = b.threads[b.current];
  int w = (int) (threadIdx.x >> 5);
  unsigned long gen = b.warpGen[w];
  if (++b.warpArrived[w] == 32) {
    b.warpArrived[w] = 0;
    b.warpGen[w]++;
    return;
  }
  t.wait = 1;
  t.gen = gen;
  yieldToScheduler();
}

// Slot `word` of `lane` in the current warp's exchange area (8 words per lane).
inline unsigned& slot(int lane, int word) {
  int w = (int) (threadIdx.x >> 5);
  return block->exchange[((size_t) w * 32 + lane) * 8 + word];
}

inline unsigned shflXor(unsigned v, int offset) {
  int lane = (int) (threadIdx.x & 31);
  slot(lane, 0) = v;
  syncWarp();
  unsigned r = slot(lane ^ offset, 0);
  syncWarp();
  return r;
}

inline float bfloat(unsigned bits16) { return __uint_as_float(bits16 << 16); }

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, c += a·b, with the PTX ISA's fragments:
// lane l, g = l / 4, t = l % 4; A (16 × 16): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
// a3 (g+8, 2t+8..); B (16 × 8): b0 (2t..2t+1, g), b1 (2t+8.., g); C (16 × 8): c0,c1 (g, 2t..2t+1),
// c2,c3 (g+8, 2t..). The lower index of a pair is the lower half of its 32-bit register.
inline void mma16816(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
  int lane = (int) (threadIdx.x & 31);
  unsigned in[6] = {a0, a1, a2, a3, b0, b1};
  for (int i = 0; i < 6; i++) slot(lane, i) = in[i];
  syncWarp();
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; l++) {
    int g = l >> 2, t = l & 3;
    for (int h = 0; h < 2; h++) {
      A[g][2 * t + h] = bfloat((slot(l, 0) >> (16 * h)) & 0xffffu);
      A[g + 8][2 * t + h] = bfloat((slot(l, 1) >> (16 * h)) & 0xffffu);
      A[g][2 * t + 8 + h] = bfloat((slot(l, 2) >> (16 * h)) & 0xffffu);
      A[g + 8][2 * t + 8 + h] = bfloat((slot(l, 3) >> (16 * h)) & 0xffffu);
      B[2 * t + h][g] = bfloat((slot(l, 4) >> (16 * h)) & 0xffffu);
      B[2 * t + 8 + h][g] = bfloat((slot(l, 5) >> (16 * h)) & 0xffffu);
    }
  }
  syncWarp();
  int g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; i++) {
    int row = g + 8 * (i >> 1), col = 2 * t + (i & 1);
    float acc = c[i];
    for (int k = 0; k < 16; k++) acc += A[row][k] * B[k][col];
    c[i] = acc;
  }
}

// ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16: lanes 8i .. 8i+7 give the addresses of rows 0..7
// of matrix i; r[i] of lane l holds matrix i's elements (2(l%4), l/4) and (2(l%4)+1, l/4).
inline void ldmatrixX4Trans(unsigned* r, const void* smem) {
  int lane = (int) (threadIdx.x & 31);
  uintptr_t p = (uintptr_t) smem;
  slot(lane, 0) = (unsigned) p;
  slot(lane, 1) = (unsigned) (p >> 32);
  syncWarp();
  auto row = [](int l) {
    return (const unsigned short*) (((uintptr_t) slot(l, 1) << 32) | slot(l, 0));
  };
  int t = lane & 3, n = lane >> 2;
  for (int i = 0; i < 4; i++) {
    unsigned lo = row(8 * i + 2 * t)[n], hi = row(8 * i + 2 * t + 1)[n];
    r[i] = lo | (hi << 16);
  }
  syncWarp();
}

inline void threadMain() {
  Block& b = *block;
  b.body();
  b.threads[b.current].done = true;
  _longjmp(b.scheduler, 1);
}

inline bool runnable(const Block& b, const Thread& t) {
  if (t.done) return false;
  if (t.wait == 0) return true;
  if (t.wait == 2) return b.blockGen != t.gen;
  return b.warpGen[t.idx.x >> 5] != t.gen;
}

// Runs body as the kernel of a launch with grid (gx, gy) and bx threads per block.
inline void launch(unsigned gx, unsigned gy, unsigned bx, const std::function<void()>& body) {
  if (bx % 32 != 0) {
    std::fprintf(stderr, "emulator: block size %u is not a multiple of 32\n", bx);
    std::exit(3);
  }
  Block b;
  b.threads.resize(bx);
  for (auto& t : b.threads) t.stack.resize(STACK);
  b.warpArrived.assign(bx / 32, 0);
  b.warpGen.assign(bx / 32, 0);
  b.exchange.assign((size_t) bx * 8, 0u);
  b.body = body;
  block = &b;
  gridDim = {gx, gy, 1};
  blockDim = {bx, 1, 1};
  for (unsigned y = 0; y < gy; y++) {
    for (unsigned x = 0; x < gx; x++) {
      blockIdx = {x, y, 0};
      b.blockArrived = 0;
      std::fill(b.warpArrived.begin(), b.warpArrived.end(), 0);
      for (unsigned i = 0; i < bx; i++) {
        Thread& t = b.threads[i];
        t.idx = {i, 0, 0};
        t.wait = 0;
        t.done = false;
        t.started = false;
        getcontext(&t.ctx);
        t.ctx.uc_stack.ss_sp = t.stack.data();
        t.ctx.uc_stack.ss_size = t.stack.size();
        t.ctx.uc_link = nullptr;
        makecontext(&t.ctx, threadMain, 0);
      }
      int finished = 0;
      while (finished < (int) bx) {
        bool progressed = false;
        for (unsigned i = 0; i < bx; i++) {
          Thread& t = b.threads[i];
          if (!runnable(b, t)) continue;
          t.wait = 0;
          b.current = (int) i;
          threadIdx = t.idx;
          if (!_setjmp(b.scheduler)) {
            if (t.started) _longjmp(t.jb, 1);
            t.started = true;
            setcontext(&t.ctx);
          }
          progressed = true;
          if (t.done) finished++;
        }
        if (!progressed) {
          threadIdx = b.threads[0].idx;
          fail("deadlock: threads wait at a barrier that the others never reach");
        }
      }
      if (b.blockArrived != 0) fail("threads left the block waiting at __syncthreads");
    }
  }
  block = nullptr;
}

}  // namespace emu

inline void __syncthreads() { emu::syncBlock(); }
inline void __syncwarp() { emu::syncWarp(); }
inline float __shfl_xor_sync(unsigned, float v, int offset) {
  return __uint_as_float(emu::shflXor(__float_as_uint(v), offset));
}
inline int __shfl_xor_sync(unsigned, int v, int offset) { return (int) emu::shflXor((unsigned) v, offset); }
inline unsigned __shfl_xor_sync(unsigned, unsigned v, int offset) { return emu::shflXor(v, offset); }
