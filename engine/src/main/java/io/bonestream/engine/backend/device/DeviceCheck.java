package io.bonestream.engine.backend.device;

import io.bonestream.core.util.Rng;
import io.bonestream.engine.device.Bf16;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Distance;
import io.bonestream.engine.device.Device;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs every {@link Device} operation on a device under test and on the {@link JavaDevice}
 * reference with the same random inputs (odd sizes, both activation types, accumulating and not)
 * and compares the outputs by relative L2 distance. The GPU kernels' unit test; {@code selftest}
 * runs it before the goldens.
 */
public final class DeviceCheck {
  /** One comparison: the operation, its variant, the distance and the bound it must stay under. */
  public record Outcome(String op, double distance, double bound) {
    public boolean ok() {
      return distance <= bound; // NaN fails
    }
  }

  private final Device dut;
  private final boolean bf16;
  private final Device ref = new JavaDevice();
  private final Rng rng = new Rng(20240915);
  private final List<Outcome> outcomes = new ArrayList<>();
  private final List<Buf[]> toFree = new ArrayList<>();

  private DeviceCheck(Device dut, boolean bf16) {
    this.dut = dut;
    this.bf16 = bf16;
  }

  /** Checks every operation of {@code device}; the list says how each went. */
  public static List<Outcome> run(Device device) {
    return run(device, true);
  }

  /** {@link #run}, with or without the BF16 variants (a float32-only device). */
  public static List<Outcome> run(Device device, boolean bf16) {
    DeviceCheck c = new DeviceCheck(device, bf16);
    try {
      c.all();
    } finally {
      c.release();
    }
    return c.outcomes;
  }

  /** A buffer on both devices holding the same values. */
  private final class Pair {
    final Buf d;
    final Buf r;

    Pair(DType t, float[] v) {
      d = dut.alloc(t, v.length);
      r = ref.alloc(t, v.length);
      dut.upload(v, d);
      ref.upload(v, r);
      toFree.add(new Buf[] {d});
    }

    Pair(int[] v) {
      d = dut.alloc(DType.I32, v.length);
      r = ref.alloc(DType.I32, v.length);
      dut.upload(v, d);
      ref.upload(v, r);
      toFree.add(new Buf[] {d});
    }
  }

  private float[] randn(int n, double std) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (std * gaussian());
    }
    return v;
  }

  private double gaussian() {
    return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
  }

  private Pair rand(DType t, int n, double std) {
    return new Pair(t, randn(n, std));
  }

  private static double bound(DType out) {
    return out == DType.BF16 ? 8e-3 : 2e-5;
  }

  private void compare(String op, Pair p, double bound) {
    outcomes.add(new Outcome(op, Distance.relL2(dut.download(p.d), ref.download(p.r)), bound));
  }

  private void all() {
    for (DType act : bf16 ? new DType[] {DType.F32, DType.BF16} : new DType[] {DType.F32}) {
      String t = act == DType.F32 ? " f32" : " bf16";
      gemms(act, t);
      int rows = 37;
      int dim = 200;
      // embed
      Pair table = rand(act, 11 * dim, 1);
      int[] idv = new int[rows];
      for (int i = 0; i < rows; i++) {
        idv[i] = rng.nextInt(11);
      }
      Pair ids = new Pair(idv);
      Pair emb = rand(DType.F32, rows * dim, 1);
      dut.embed(ids.d, table.d, emb.d, rows, dim);
      ref.embed(ids.r, table.r, emb.r, rows, dim);
      compare("embed" + t, emb, 0);
      // RMSNorm forward and backward
      Pair x = rand(DType.F32, rows * dim, 2);
      Pair w = rand(DType.F32, dim, 1);
      Pair y = rand(act, rows * dim, 1);
      Pair inv = rand(DType.F32, rows, 1);
      dut.rmsnormForward(x.d, w.d, 1e-5f, y.d, inv.d, rows, dim);
      ref.rmsnormForward(x.r, w.r, 1e-5f, y.r, inv.r, rows, dim);
      compare("rmsnormForward out" + t, y, bound(act));
      compare("rmsnormForward invRms" + t, inv, 1e-5);
      Pair dyTile = rand(DType.F32, rows * 7, 1);
      for (boolean acc : new boolean[] {false, true}) {
        for (boolean tiled : new boolean[] {false, true}) {
          String v = t + (acc ? " acc" : "") + (tiled ? " tiled" : "");
          Pair dy = rand(DType.F32, rows * dim, 1);
          Pair dx = rand(DType.F32, rows * dim, 1);
          Pair dxa = rand(act, rows * dim, 1);
          dut.rmsnormBackward(x.d, w.d, inv.d, dy.d, tiled ? dyTile.d : null, 7, dx.d, act == DType.F32 ? null : dxa.d,
              rows, dim, acc);
          ref.rmsnormBackward(x.r, w.r, inv.r, dy.r, tiled ? dyTile.r : null, 7, dx.r, act == DType.F32 ? null : dxa.r,
              rows, dim, acc);
          compare("rmsnormBackward dx" + v, dx, 1e-5);
          if (act == DType.BF16) {
            compare("rmsnormBackward dxAct" + v, dxa, bound(act));
          }
        }
      }
      // heads and RoPE
      int b = 2;
      int seq = 13;
      int heads = 3;
      int hd = 10;
      int n = b * seq * heads * hd;
      Pair cos = rand(DType.F32, seq * hd, 1);
      Pair sin = rand(DType.F32, seq * hd, 1);
      Pair headTile = rand(DType.F32, b * seq * 6, 1);
      for (DType in : new DType[] {act, DType.F32}) {
        for (boolean rot : new boolean[] {false, true}) {
          String v = t + (in == DType.F32 ? " in f32" : "") + (rot ? " rotate" : "");
          Pair src = rand(in, n, 1);
          Pair o1 = rand(act, n, 1);
          dut.toHeads(src.d, null, 0, cos.d, sin.d, o1.d, b, seq, heads, hd, rot);
          ref.toHeads(src.r, null, 0, cos.r, sin.r, o1.r, b, seq, heads, hd, rot);
          compare("toHeads" + v, o1, bound(act));
          Pair o3 = rand(act, n, 1);
          dut.toHeads(src.d, headTile.d, 6, cos.d, sin.d, o3.d, b, seq, heads, hd, rot);
          ref.toHeads(src.r, headTile.r, 6, cos.r, sin.r, o3.r, b, seq, heads, hd, rot);
          compare("toHeads tiled" + v, o3, bound(act));
          Pair o2 = rand(act, n, 1);
          dut.fromHeads(src.d, cos.d, sin.d, o2.d, b, seq, heads, hd, rot);
          ref.fromHeads(src.r, cos.r, sin.r, o2.r, b, seq, heads, hd, rot);
          compare("fromHeads" + v, o2, bound(act));
        }
      }
      attention(act, t);
      // SwiGLU, 7 rows of 143
      int m = 1001;
      Pair g = rand(act, m, 2);
      Pair u = rand(act, m, 1);
      Pair a = rand(act, m, 1);
      dut.swiglu(g.d, u.d, a.d, m);
      ref.swiglu(g.r, u.r, a.r, m);
      compare("swiglu" + t, a, bound(act));
      Pair da = rand(DType.F32, m, 1);
      Pair daTile = rand(DType.F32, 7 * 5, 1);
      for (boolean tiled : new boolean[] {false, true}) {
        Pair dg = rand(act, m, 1);
        Pair du = rand(act, m, 1);
        Pair a2 = tiled ? rand(act, m, 1) : null; // with the forward's output once
        dut.swigluBackward(g.d, u.d, da.d, tiled ? daTile.d : null, 5, dg.d, du.d, tiled ? a2.d : null, 7, 143);
        ref.swigluBackward(g.r, u.r, da.r, tiled ? daTile.r : null, 5, dg.r, du.r, tiled ? a2.r : null, 7, 143);
        compare("swigluBackward dGate" + t + (tiled ? " tiled" : ""), dg, bound(act));
        compare("swigluBackward dUp" + t + (tiled ? " tiled" : ""), du, bound(act));
        if (tiled) {
          compare("swigluBackward out" + t, a2, bound(act));
        }
      }
      // cross-entropy, rows without a target among them
      int vocab = 1500;
      int crow = 9;
      Pair logits = rand(DType.F32, crow * vocab, 3);
      int[] tv = new int[crow];
      float[] wv = new float[crow];
      for (int i = 0; i < crow; i++) {
        tv[i] = i % 4 == 1 ? -1 : rng.nextInt(vocab);
        wv[i] = 1 + i % 2;
      }
      Pair targets = new Pair(tv);
      Pair weights = new Pair(DType.F32, wv);
      Pair loss = rand(DType.F32, crow, 1);
      Pair dl = rand(act, crow * vocab, 1);
      dut.crossEntropy(logits.d, targets.d, weights.d, 0.25f, loss.d, dl.d, crow, vocab);
      ref.crossEntropy(logits.r, targets.r, weights.r, 0.25f, loss.r, dl.r, crow, vocab);
      compare("crossEntropy loss" + t, loss, 1e-5);
      compare("crossEntropy dLogits" + t, dl, bound(act));
      // bat: the merge (r a power of two and not; the widths the GPU runs on tensor cores) and the
      // identity gradient (the GPU's vectorized kernel takes r dividing 256 and I a multiple of 8)
      for (int[] shape : new int[][] {{30, 45, 3}, {24, 40, 4}, {64, 160, 32}, {128, 192, 64}, {256, 384, 128}}) {
        int mo = shape[0];
        int mi = shape[1];
        int mr = shape[2];
        Pair bw2 = rand(act, mo * mi, 1);
        float[] blocks = randn(mo * mr, 0.1);
        Pair bl2 = new Pair(DType.F32, blocks);
        Pair bla = new Pair(act, blocks);
        Pair mg2 = rand(act, mo * mi, 1);
        dut.batMerge(bw2.d, bl2.d, bla.d, mg2.d, mo, mi, mr);
        ref.batMerge(bw2.r, bl2.r, bla.r, mg2.r, mo, mi, mr);
        compare("batMerge r=" + mr + t, mg2, bound(act));
      }
      // bat's dB: r 4 (no tensor-core kernel), the GPU's widths with Q = I / r a multiple of 16
      // or not (a tile of 16 view rows then spans two t = j / Q), and many tiles per band
      for (int[] shape : new int[][] {{24, 40, 4}, {64, 96, 32}, {128, 320, 64}, {128, 5632, 64},
          {256, 1536, 128}, {64, 4096, 32}}) {
        Pair bw = rand(act, shape[0] * shape[1], 1);
        Pair mg = rand(act, shape[0] * shape[1], 1);
        Pair dB = rand(DType.F32, shape[0] * shape[2], 1);
        dut.batBlockGrad(bw.d, mg.d, dB.d, shape[0], shape[1], shape[2]);
        ref.batBlockGrad(bw.r, mg.r, dB.r, shape[0], shape[1], shape[2]);
        compare("batBlockGrad r=" + shape[2] + " " + shape[0] + "x" + shape[1] + t, dB, 1e-4);
      }
      // biases, conversions, random weights
      Pair yb = rand(act, rows * 30, 1);
      Pair bias = rand(DType.F32, 30, 1);
      dut.addBias(yb.d, bias.d, rows, 30);
      ref.addBias(yb.r, bias.r, rows, 30);
      compare("addBias" + t, yb, bound(act));
      Pair rn = rand(act, 4099, 1);
      dut.randomNormal(rn.d.slice(3, 4096), 0.02f, 77);
      ref.randomNormal(rn.r.slice(3, 4096), 0.02f, 77);
      compare("randomNormal" + t, rn, act == DType.BF16 ? 8e-3 : 1e-5);
    }
    // a checkpoint's bytes in the buffer's own type, from a direct (mapped-like) and a heap buffer's
    // odd position, into a slice
    for (DType t : bf16 ? new DType[] {DType.F32, DType.BF16} : new DType[] {DType.F32}) {
      for (boolean direct : new boolean[] {true, false}) {
        int n = 1001;
        float[] v = randn(n, 1);
        int size = 7 + n * t.bytes();
        java.nio.ByteBuffer file =
            direct ? java.nio.ByteBuffer.allocateDirect(size) : java.nio.ByteBuffer.allocate(size);
        file.order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
          if (t == DType.F32) {
            file.putFloat(7 + 4 * i, v[i]);
          } else {
            file.putShort(7 + 2 * i, Bf16.bits(v[i]));
          }
        }
        java.nio.ByteBuffer bytes = file.duplicate().position(7).limit(size); // from its position
        Pair into = rand(t, n + 5, 1);
        dut.uploadBytes(bytes, into.d.slice(5, n));
        ref.uploadBytes(bytes, into.r.slice(5, n));
        compare("uploadBytes " + (t == DType.F32 ? "f32" : "bf16") + (direct ? " direct" : " heap"), into, 0);
      }
    }
    if (bf16) {
      Pair src = rand(DType.F32, 999, 1);
      Pair dst = rand(DType.BF16, 999, 1);
      dut.copy(src.d, dst.d);
      ref.copy(src.r, dst.r);
      compare("copy f32 to bf16", dst, 0);
      Pair back = rand(DType.F32, 999, 1);
      dut.copy(dst.d, back.d);
      ref.copy(dst.r, back.r);
      compare("copy bf16 to f32", back, 0);
    }
    // the optimizers, with clipping and weight decay
    int p = 3001;
    float[] pv = randn(p, 1);
    float[] gv = randn(p, 1);
    float[] mv = randn(p, 0.1);
    float[] vv = new float[p];
    for (int i = 0; i < p; i++) {
      vv[i] = (float) Math.abs(0.01 * gaussian());
    }
    Pair pp = new Pair(DType.F32, pv);
    Pair gg = new Pair(DType.F32, gv);
    Pair mm = new Pair(DType.F32, mv);
    Pair vvp = new Pair(DType.F32, vv);
    dut.adamw(pp.d, gg.d, mm.d, vvp.d, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.19f, 0.044f, 0.7f);
    ref.adamw(pp.r, gg.r, mm.r, vvp.r, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.19f, 0.044f, 0.7f);
    compare("adamw p", pp, 1e-6);
    compare("adamw m", mm, 1e-6);
    compare("adamw v", vvp, 1e-6);
    Pair ps = new Pair(DType.F32, pv);
    dut.sgd(ps.d, gg.d, 0.05f, 0.01f, 0.5f);
    ref.sgd(ps.r, gg.r, 0.05f, 0.01f, 0.5f);
    compare("sgd", ps, 1e-6);
    Pair big = rand(DType.F32, 300001, 1);
    double s1 = dut.sumOfSquares(big.d);
    double s2 = ref.sumOfSquares(big.r);
    outcomes.add(new Outcome("sumOfSquares", Math.abs(s1 - s2) / s2, 1e-5));
  }

  /**
   * Fused causal attention forward and backward, each device on its own forward's output and lse:
   * sequences longer than a tile and not a multiple of one, head dimensions off the powers of two,
   * groups of query heads per key/value head (G > 1) and not; hd 64 and 128 are also the shapes of the
   * CUDA device's tensor-core kernels (bf16). {batch, kv heads, G, T, hd}.
   */
  private void attention(DType act, String t) {
    for (int[] s : new int[][] {{2, 3, 2, 77, 24}, {1, 1, 4, 130, 40}, {1, 2, 1, 33, 64}, {2, 1, 1, 5, 8},
        {1, 1, 2, 20, 160}, {1, 1, 2, 150, 128}, {2, 1, 1, 129, 64}}) {
      int b = s[0];
      int kvHeads = s[1];
      int group = s[2];
      int seq = s[3];
      int hd = s[4];
      int nq = b * kvHeads * group * seq * hd;
      int nkv = b * kvHeads * seq * hd;
      float scale = (float) (1 / Math.sqrt(hd));
      String v = t + " " + b + "x" + kvHeads + "x" + group + " T " + seq + " hd " + hd;
      Pair q = rand(act, nq, 2);
      Pair k = rand(act, nkv, 1);
      Pair val = rand(act, nkv, 1);
      Pair out = rand(act, nq, 1);
      Pair lse = rand(DType.F32, nq / hd, 1);
      dut.attentionForward(q.d, k.d, val.d, out.d, lse.d, b, kvHeads, group, seq, hd, scale);
      ref.attentionForward(q.r, k.r, val.r, out.r, lse.r, b, kvHeads, group, seq, hd, scale);
      compare("attentionForward out" + v, out, bound(act));
      compare("attentionForward lse" + v, lse, 1e-5);
      Pair dOut = rand(act, nq, 1);
      Pair dq = rand(DType.F32, nq, 1);
      Pair dk = rand(DType.F32, nkv, 1);
      Pair dv = rand(DType.F32, nkv, 1);
      dut.attentionBackward(q.d, k.d, val.d, out.d, dOut.d, lse.d, dq.d, dk.d, dv.d, b, kvHeads, group, seq, hd, scale);
      ref.attentionBackward(q.r, k.r, val.r, out.r, dOut.r, lse.r, dq.r, dk.r, dv.r, b, kvHeads, group, seq, hd, scale);
      double gradBound = act == DType.BF16 ? 2e-2 : 2e-5;
      compare("attentionBackward dq" + v, dq, gradBound);
      compare("attentionBackward dk" + v, dk, gradBound);
      compare("attentionBackward dv" + v, dv, gradBound);
    }
  }

  private void gemms(DType act, String t) {
    int m = 37;
    int n = 29;
    int k = 45;
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        for (DType ct : new DType[] {DType.F32, act}) {
          for (float beta : new float[] {0f, 1f}) {
            Pair a = rand(act, m * k, 1);
            Pair b = rand(act, k * n, 1);
            Pair c = rand(ct, m * n, 1);
            int lda = ta ? m : k;
            int ldb = tb ? k : n;
            dut.gemm(ta, tb, m, n, k, 0.5f, a.d, lda, b.d, ldb, beta, c.d, n);
            ref.gemm(ta, tb, m, n, k, 0.5f, a.r, lda, b.r, ldb, beta, c.r, n);
            String v = String.format("gemm%s %s%s out %s beta %.0f", t, ta ? "T" : "N", tb ? "T" : "N",
                ct == DType.F32 ? "f32" : "bf16", beta);
            compare(v, c, ct == DType.BF16 ? 8e-3 : 1e-5);
          }
        }
      }
    }
    int batch = 3;
    for (boolean ta : new boolean[] {false, true}) {
      for (boolean tb : new boolean[] {false, true}) {
        Pair a = rand(act, batch * m * k + 5, 1);
        Pair b = rand(act, batch * k * n + 7, 1);
        Pair c = rand(DType.F32, batch * m * n + 3, 1);
        int lda = ta ? m : k;
        int ldb = tb ? k : n;
        dut.gemmBatched(ta, tb, m, n, k, 1f, a.d, lda, (long) m * k + 1, b.d, ldb, (long) k * n + 2, 1f, c.d, n,
            (long) m * n + 1, batch);
        ref.gemmBatched(ta, tb, m, n, k, 1f, a.r, lda, (long) m * k + 1, b.r, ldb, (long) k * n + 2, 1f, c.r, n,
            (long) m * n + 1, batch);
        compare("gemmBatched" + t + " " + (ta ? "T" : "N") + (tb ? "T" : "N"), c, 1e-5);
      }
    }
  }

  private void release() {
    for (Buf[] b : toFree) {
      dut.free(b[0]);
    }
  }
}
