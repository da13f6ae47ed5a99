package io.bonestream.core.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The truncated LoRA of a matrix whose singular values are known by construction
 * (ΔW = U diag(s) Vᵀ, U and V random orthonormal): by Eckart–Young its best rank-k error is
 * √(Σ_{i ≥ k} s_i²), and the pair must reach it.
 */
@Timeout(60)
class LoraFactorsTest {
  @Test
  void reachesTheEckartYoungErrorOnBothSides() {
    for (int[] dims : new int[][] {{40, 25}, {25, 40}, {6, 9}}) {
      int out = dims[0];
      int in = dims[1];
      int n = Math.min(out, in);
      double[] s = new double[n];
      for (int i = 0; i < n; i++) {
        s[i] = Math.pow(0.7, i) * 3;
      }
      double[] delta = withSingularValues(out, in, s, new Random(out * 31L + in));
      for (int k : new int[] {1, 3, 5, n, n + 4}) {
        LoraFactors.Pair p = LoraFactors.truncated(delta, out, in, k);
        double tail = 0;
        for (int i = Math.min(k, n); i < n; i++) {
          tail += s[i] * s[i];
        }
        double all = 0;
        for (double v : s) {
          all += v * v;
        }
        assertEquals(Math.min(k, n), p.rank());
        assertEquals(Math.sqrt(all), p.deltaNorm(), 1e-9);
        assertEquals(Math.sqrt(tail), p.errorNorm(), 1e-6, out + "x" + in + " at rank " + k);
        assertEquals(Math.sqrt(tail), measuredError(delta, out, in, p), 1e-5, "the pair's own error, rank " + k);
      }
    }
  }

  private static double measuredError(double[] delta, int out, int in, LoraFactors.Pair p) {
    float[] a = p.a().toFloats();
    float[] b = p.b().toFloats();
    int k = p.rank();
    double e = 0;
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double ba = 0;
        for (int j = 0; j < k; j++) {
          ba += (double) b[o * k + j] * a[j * in + i];
        }
        double d = delta[o * in + i] - ba;
        e += d * d;
      }
    }
    return Math.sqrt(e);
  }

  /** U diag(s) Vᵀ with U (out, n), V (in, n) orthonormal columns from Gram–Schmidt on Gaussians. */
  private static double[] withSingularValues(int out, int in, double[] s, Random rnd) {
    int n = s.length;
    double[] u = orthonormal(out, n, rnd);
    double[] v = orthonormal(in, n, rnd);
    double[] d = new double[out * in];
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double x = 0;
        for (int j = 0; j < n; j++) {
          x += u[o * n + j] * s[j] * v[i * n + j];
        }
        d[o * in + i] = x;
      }
    }
    return d;
  }

  private static double[] orthonormal(int rows, int cols, Random rnd) {
    double[] m = new double[rows * cols];
    for (int i = 0; i < m.length; i++) {
      m[i] = rnd.nextGaussian();
    }
    for (int j = 0; j < cols; j++) {
      for (int p = 0; p < j; p++) {
        double dot = 0;
        for (int r = 0; r < rows; r++) {
          dot += m[r * cols + p] * m[r * cols + j];
        }
        for (int r = 0; r < rows; r++) {
          m[r * cols + j] -= dot * m[r * cols + p];
        }
      }
      double norm = 0;
      for (int r = 0; r < rows; r++) {
        norm += m[r * cols + j] * m[r * cols + j];
      }
      for (int r = 0; r < rows; r++) {
        m[r * cols + j] /= Math.sqrt(norm);
      }
    }
    return m;
  }
}
