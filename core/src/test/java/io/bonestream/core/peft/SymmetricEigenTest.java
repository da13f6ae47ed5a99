package io.bonestream.core.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Checked by the definition: A v = λ v, the vectors orthonormal, the values ascending. */
@Timeout(30)
class SymmetricEigenTest {
  @Test
  void decomposesARandomSymmetricMatrix() {
    int n = 13;
    Random rnd = new Random(7);
    double[] a = new double[n * n];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j <= i; j++) {
        a[i * n + j] = a[j * n + i] = rnd.nextGaussian();
      }
    }
    SymmetricEigen.Result r = SymmetricEigen.of(a, n);
    for (int j = 0; j < n; j++) {
      if (j > 0) {
        assertTrue(r.values()[j - 1] <= r.values()[j], "not ascending at " + j);
      }
      for (int row = 0; row < n; row++) {
        double av = 0;
        for (int k = 0; k < n; k++) {
          av += a[row * n + k] * r.vectors()[k * n + j];
        }
        assertEquals(r.values()[j] * r.vectors()[row * n + j], av, 1e-10, "A v != λ v for value " + j);
      }
      for (int m = 0; m < n; m++) {
        double dot = 0;
        for (int k = 0; k < n; k++) {
          dot += r.vectors()[k * n + j] * r.vectors()[k * n + m];
        }
        assertEquals(j == m ? 1 : 0, dot, 1e-10);
      }
    }
  }
}
