package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.bonestream.core.util.Rng;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import org.junit.jupiter.api.Test;

/**
 * The reference device's bat operations against the formulas of docs (bone.md), computed here in
 * float64 block by block (the bf16 merge within one bf16 step of it): ΔW_{a,b} = (W_{a,b} + I) B_a, and dB_a = Σ_b (W_{a,b} + I)ᵀ M_{a,b}.
 */
class BatOpsTest {
  private final Rng rng = new Rng(7);

  private float[] randn(int n, double std) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (std * (rng.nextDouble() * 2 - 1));
    }
    return v;
  }

  @Test
  void mergeIsWPlusWPlusIdentityTimesB() {
    for (int[] shape : new int[][] {{6, 9, 3}, {64, 96, 32}}) {
      int outF = shape[0];
      int inF = shape[1];
      int r = shape[2];
      float[] w = randn(outF * inF, 1);
      float[] blocks = randn(outF * r, 0.1);
      JavaDevice d = new JavaDevice();
      Buf wb = d.alloc(DType.F32, w.length);
      Buf bb = d.alloc(DType.F32, blocks.length);
      Buf out = d.alloc(DType.F32, w.length);
      d.upload(w, wb);
      d.upload(blocks, bb);
      d.batMerge(wb, bb, bb, out, outF, inF, r);
      float[] got = d.download(out);
      for (int a = 0; a < outF / r; a++) {
        for (int b = 0; b < inF / r; b++) {
          for (int p = 0; p < r; p++) {
            for (int s = 0; s < r; s++) {
              double delta = 0;
              for (int t = 0; t < r; t++) {
                double wpt = w[(a * r + p) * inF + b * r + t] + (p == t ? 1 : 0);
                delta += wpt * blocks[(a * r + t) * r + s];
              }
              int i = (a * r + p) * inF + b * r + s;
              assertEquals(w[i] + delta, got[i], 1e-5, "r " + r + " element " + i);
            }
          }
        }
      }
    }
  }

  @Test
  void mergeOfBf16IsTheFormulaOnItsRoundedInputsWithinOneBf16Step() {
    int outF = 4;
    int inF = 8;
    int r = 2;
    float[] w = randn(outF * inF, 1);
    float[] blocks = randn(outF * r, 0.1);
    JavaDevice d = new JavaDevice();
    Buf wb = d.alloc(DType.BF16, w.length);
    Buf bf = d.alloc(DType.F32, blocks.length);
    Buf ba = d.alloc(DType.BF16, blocks.length);
    Buf out = d.alloc(DType.BF16, w.length);
    d.upload(w, wb);
    d.upload(blocks, bf);
    d.upload(blocks, ba);
    d.batMerge(wb, bf, ba, out, outF, inF, r);
    float[] wr = d.download(wb);
    float[] br = d.download(ba);
    float[] got = d.download(out);
    for (int o = 0; o < outF; o++) {
      int a = o / r;
      int p = o % r;
      for (int i = 0; i < inF; i++) {
        int b = i / r;
        int s = i % r;
        // the formula in float64 on the rounded inputs: W and the product's B in bf16, the identity
        // term's B in float32; the device rounds its float32 sum once, so within one bf16 step
        double sum = 0;
        for (int t = 0; t < r; t++) {
          sum += (double) wr[o * inF + b * r + t] * br[(a * r + t) * r + s];
        }
        double expected = wr[o * inF + i] + (double) blocks[(a * r + p) * r + s] + sum;
        double bf16Step = Math.ulp((float) expected) * 65536; // bf16 keeps 8 of float32's 24 significand bits
        assertEquals(expected, got[o * inF + i], bf16Step, "element " + (o * inF + i));
      }
    }
  }

  @Test
  void blockGradientIsWPlusIdentityTransposedTimesMSummedOverBlocks() {
    int outF = 8;
    int inF = 24;
    int r = 4;
    float[] w = randn(outF * inF, 1);
    float[] m = randn(outF * inF, 1);
    float[] init = randn(outF * r, 1);
    JavaDevice d = new JavaDevice();
    Buf wb = d.alloc(DType.F32, w.length);
    Buf mb = d.alloc(DType.F32, m.length);
    Buf db = d.alloc(DType.F32, init.length);
    d.upload(w, wb);
    d.upload(m, mb);
    d.upload(init, db);
    d.batBlockGrad(wb, mb, db, outF, inF, r);
    float[] got = d.download(db);
    for (int a = 0; a < outF / r; a++) {
      for (int t = 0; t < r; t++) {
        for (int s = 0; s < r; s++) {
          // dB_a[t, s] = Σ_b Σ_p (W_{a,b} + I)[p, t] (M_{a,b})[p, s], block by block
          double sum = init[(a * r + t) * r + s];
          for (int b = 0; b < inF / r; b++) {
            for (int p = 0; p < r; p++) {
              double wpt = w[(a * r + p) * inF + b * r + t] + (p == t ? 1 : 0);
              sum += wpt * m[(a * r + p) * inF + b * r + s];
            }
          }
          assertEquals(sum, got[(a * r + t) * r + s], 1e-5);
        }
      }
    }
  }
}
