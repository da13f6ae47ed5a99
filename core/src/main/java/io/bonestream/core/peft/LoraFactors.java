package io.bonestream.core.peft;

import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.BaseWeights;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Rng;

/**
 * One adapted projection as a LoRA pair, A (k, I) and B (O, k), with scale 1 ({@code lora_alpha = k}).
 *
 * <ul>
 *   <li>{@code bone}, {@code mini}: exact at k = r: {@code A[j, i] = 1 if i mod r = j}, B = the
 *       (tiled) block transposed.
 *   <li>{@code lora}: as it is, with its scale folded into B.
 *   <li>{@code bat}: ΔW = W' − W depends on W and has no exact low-rank form; it is cut to its best
 *       rank-k approximation (Eckart–Young). The top-k singular subspace of the smaller side comes
 *       from subspace iteration on the Gram matrix (applied as ΔW·ΔWᵀ, never formed) with a
 *       Rayleigh–Ritz step; when k plus the oversampling covers the whole side it is exact in one
 *       pass. The relative Frobenius error is reported.
 * </ul>
 */
public final class LoraFactors {
  /** Extra directions kept while iterating: they speed up convergence of the top k. */
  private static final int OVERSAMPLING = 8;
  private static final int MAX_ITERATIONS = 200;

  /** A LoRA pair and the error of the approximation: ‖ΔW − BA‖ and ‖ΔW‖ (Frobenius). */
  public record Pair(HostTensor a, HostTensor b, double errorNorm, double deltaNorm) {
    public int rank() {
      return (int) a.shape()[0];
    }
  }

  private LoraFactors() {}

  /** The LoRA pair of one site; {@code rank} is used by bat only. */
  public static Pair of(PeftAdapter adapter, AdapterLayout.Site site, BaseWeights base, int rank) {
    int in = site.in();
    int out = site.out();
    int r = adapter.config().r();
    switch (adapter.config().method()) {
      case BONE, MINI -> {
        double[] delta = DeltaWeights.of(adapter, site, base);
        float[] a = new float[r * in];
        for (int i = 0; i < in; i++) {
          a[(i % r) * in + i] = 1f;
        }
        float[] b = new float[out * r];   // B[o, j] = ΔW[o, j] (= block[j, o]) for j < r
        for (int o = 0; o < out; o++) {
          for (int j = 0; j < r; j++) {
            b[o * r + j] = j < in ? (float) delta[o * in + j] : 0f;
          }
        }
        return new Pair(HostTensor.of(a, r, in), HostTensor.of(b, out, r), 0.0, norm(delta));
      }
      case LORA -> {
        float[] a = adapter.tensor(site, "lora_A.weight").toFloats().clone();
        float[] b = adapter.tensor(site, "lora_B.weight").toFloats().clone();
        double scale = adapter.config().loraAlpha() / r;
        for (int i = 0; i < b.length; i++) {
          b[i] = (float) (b[i] * scale);
        }
        return new Pair(HostTensor.of(a, r, in), HostTensor.of(b, out, r), 0.0,
            norm(DeltaWeights.of(adapter, site, base)));
      }
      default -> {
        return truncated(DeltaWeights.of(adapter, site, base), out, in, rank);
      }
    }
  }

  /** The best rank-k approximation of delta (O, I), row-major, as B (O, k) · A (k, I). */
  public static Pair truncated(double[] delta, int out, int in, int rank) {
    boolean left = out <= in;             // iterate on the smaller side: n = min(O, I)
    int n = Math.min(out, in);
    int k = Math.min(rank, n);
    int l = Math.min(n, k + OVERSAMPLING);
    double[] q = new double[n * l];       // (n, l), orthonormal columns
    Rng rng = new Rng(0x10A4L);
    for (int i = 0; i < q.length; i++) {
      q[i] = rng.nextDouble() - 0.5;
    }
    orthonormalize(q, n, l);
    double[] previous = null;
    for (int it = 0; it < MAX_ITERATIONS; it++) {
      double[] z = gram(delta, out, in, left, q, l); // G Q (n, l)
      double[] t = mulTransposed(q, z, n, l);         // Qᵀ G Q (l, l)
      double[] values = SymmetricEigen.of(t, l).values();
      orthonormalize(z, n, l);
      q = z;
      if (l == n || (previous != null && converged(previous, values, k))) {
        break;
      }
      previous = values;
    }
    // Rayleigh–Ritz: the top k eigenvectors of Qᵀ G Q, rotated back: U (n, k)
    SymmetricEigen.Result ritz = SymmetricEigen.of(mulTransposed(q, gram(delta, out, in, left, q, l), n, l), l);
    double[] u = new double[n * k];
    for (int row = 0; row < n; row++) {
      for (int j = 0; j < k; j++) {
        int col = l - 1 - j; // descending
        double s = 0;
        for (int m = 0; m < l; m++) {
          s += q[row * l + m] * ritz.vectors()[m * l + col];
        }
        u[row * k + j] = s;
      }
    }
    double[] a;
    double[] b;
    if (left) {                            // U_k (O, k), A = U_kᵀ ΔW (k, I)
      b = u;
      a = new double[k * in];
      for (int j = 0; j < k; j++) {
        for (int o = 0; o < out; o++) {
          double uo = u[o * k + j];
          for (int i = 0; i < in; i++) {
            a[j * in + i] += uo * delta[o * in + i];
          }
        }
      }
    } else {                               // V_k (I, k): B = ΔW V_k (O, k), A = V_kᵀ (k, I)
      b = new double[out * k];
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double d = delta[o * in + i];
          for (int j = 0; j < k; j++) {
            b[o * k + j] += d * u[i * k + j];
          }
        }
      }
      a = new double[k * in];
      for (int j = 0; j < k; j++) {
        for (int i = 0; i < in; i++) {
          a[j * in + i] = u[i * k + j];
        }
      }
    }
    double err = 0;
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double s = delta[o * in + i];
        for (int j = 0; j < k; j++) {
          s -= b[o * k + j] * a[j * in + i];
        }
        err += s * s;
      }
    }
    return new Pair(HostTensor.of(floats(a), k, in), HostTensor.of(floats(b), out, k), Math.sqrt(err), norm(delta));
  }

  /** G Q for G = ΔW ΔWᵀ (left, n = O) or ΔWᵀ ΔW (n = I), without forming G. */
  private static double[] gram(double[] d, int out, int in, boolean left, double[] q, int l) {
    if (left) {
      double[] y = new double[in * l];   // ΔWᵀ Q (I, l)
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double x = d[o * in + i];
          for (int j = 0; j < l; j++) {
            y[i * l + j] += x * q[o * l + j];
          }
        }
      }
      double[] z = new double[out * l];  // ΔW y (O, l)
      for (int o = 0; o < out; o++) {
        for (int i = 0; i < in; i++) {
          double x = d[o * in + i];
          for (int j = 0; j < l; j++) {
            z[o * l + j] += x * y[i * l + j];
          }
        }
      }
      return z;
    }
    double[] y = new double[out * l];    // ΔW Q (O, l)
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double x = d[o * in + i];
        for (int j = 0; j < l; j++) {
          y[o * l + j] += x * q[i * l + j];
        }
      }
    }
    double[] z = new double[in * l];     // ΔWᵀ y (I, l)
    for (int o = 0; o < out; o++) {
      for (int i = 0; i < in; i++) {
        double x = d[o * in + i];
        for (int j = 0; j < l; j++) {
          z[i * l + j] += x * y[o * l + j];
        }
      }
    }
    return z;
  }

  /** Xᵀ Y for X, Y (n, l): (l, l). */
  private static double[] mulTransposed(double[] x, double[] y, int n, int l) {
    double[] t = new double[l * l];
    for (int row = 0; row < n; row++) {
      for (int i = 0; i < l; i++) {
        double xi = x[row * l + i];
        for (int j = 0; j < l; j++) {
          t[i * l + j] += xi * y[row * l + j];
        }
      }
    }
    return t;
  }

  /** Modified Gram–Schmidt on the columns of m (n, l), twice for stability; a null column stays zero. */
  private static void orthonormalize(double[] m, int n, int l) {
    for (int pass = 0; pass < 2; pass++) {
      for (int j = 0; j < l; j++) {
        for (int p = 0; p < j; p++) {
          double dot = 0;
          for (int row = 0; row < n; row++) {
            dot += m[row * l + p] * m[row * l + j];
          }
          for (int row = 0; row < n; row++) {
            m[row * l + j] -= dot * m[row * l + p];
          }
        }
        double norm = 0;
        for (int row = 0; row < n; row++) {
          norm += m[row * l + j] * m[row * l + j];
        }
        norm = Math.sqrt(norm);
        for (int row = 0; row < n; row++) {
          m[row * l + j] = norm > 1e-300 ? m[row * l + j] / norm : 0;
        }
      }
    }
  }

  /** The top k Ritz values moved by less than 1e-12 relative. */
  private static boolean converged(double[] before, double[] now, int k) {
    int l = now.length;
    for (int j = 0; j < k; j++) {
      double a = before[l - 1 - j];
      double b = now[l - 1 - j];
      if (Math.abs(a - b) > 1e-12 * Math.max(Math.abs(b), 1e-300)) {
        return false;
      }
    }
    return true;
  }

  private static double norm(double[] x) {
    double s = 0;
    for (double v : x) {
      s += v * v;
    }
    return Math.sqrt(s);
  }

  private static float[] floats(double[] x) {
    float[] f = new float[x.length];
    for (int i = 0; i < x.length; i++) {
      f[i] = (float) x[i];
    }
    return f;
  }
}
