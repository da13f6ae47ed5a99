package io.bonestream.core.peft;

/**
 * Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, in float64: exact to
 * rounding, no library. Used on the Rayleigh–Ritz matrices of {@link LoraFactors}.
 */
final class SymmetricEigen {
  /** Eigenvalues (ascending) and eigenvectors (column j of {@code vectors} belongs to value j), row-major n×n. */
  record Result(double[] values, double[] vectors) {}

  private SymmetricEigen() {}

  static Result of(double[] matrix, int n) {
    double[] a = matrix.clone();
    double[] v = new double[n * n];
    for (int i = 0; i < n; i++) {
      v[i * n + i] = 1;
    }
    for (int sweep = 0; sweep < 100; sweep++) {
      double off = 0;
      double all = 0;
      for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
          double x = a[i * n + j] * a[i * n + j];
          all += x;
          if (i != j) {
            off += x;
          }
        }
      }
      if (off <= 1e-30 * all || off == 0) {
        break;
      }
      for (int p = 0; p < n - 1; p++) {
        for (int q = p + 1; q < n; q++) {
          double apq = a[p * n + q];
          if (apq == 0) {
            continue;
          }
          double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
          double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          if (theta == 0) {
            t = 1;
          }
          double c = 1 / Math.sqrt(t * t + 1);
          double s = t * c;
          for (int k = 0; k < n; k++) { // A ← A J (columns p, q)
            double akp = a[k * n + p];
            double akq = a[k * n + q];
            a[k * n + p] = c * akp - s * akq;
            a[k * n + q] = s * akp + c * akq;
          }
          for (int k = 0; k < n; k++) { // A ← Jᵀ A (rows p, q)
            double apk = a[p * n + k];
            double aqk = a[q * n + k];
            a[p * n + k] = c * apk - s * aqk;
            a[q * n + k] = s * apk + c * aqk;
          }
          for (int k = 0; k < n; k++) { // V ← V J
            double vkp = v[k * n + p];
            double vkq = v[k * n + q];
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    final double[] diag = a;
    java.util.Arrays.sort(order, (x, y) -> Double.compare(diag[x * n + x], diag[y * n + y]));
    double[] values = new double[n];
    double[] vectors = new double[n * n];
    for (int j = 0; j < n; j++) {
      values[j] = diag[order[j] * n + order[j]];
      for (int k = 0; k < n; k++) {
        vectors[k * n + j] = v[k * n + order[j]];
      }
    }
    return new Result(values, vectors);
  }
}
