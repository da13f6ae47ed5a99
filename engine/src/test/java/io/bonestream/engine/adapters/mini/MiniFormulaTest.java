package io.bonestream.engine.adapters.mini;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.model.Linear;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * MiSS mini against PEFT's formula written out in plain float64 loops (an independent reference):
 * y = x Wᵀ + b + S B with S the chunk sums of x (padded to a multiple of r) and B = B_mini
 * repeated O / mini_r times along the outputs (PEFT: {@code miss_block.repeat(1, out // mini_r)}),
 * and the merged weight W + ΔW, ΔW[o, i] = B_mini[i mod r, o mod mini_r].
 */
class MiniFormulaTest {
  static final int N = 3;
  static final int I = 10; // not a multiple of r: the padded chunk
  static final int O = 12;
  static final int R = 4;
  static final int M = 3;

  static double[][] random(Rng rng, int rows, int cols) {
    double[][] a = new double[rows][cols];
    for (double[] row : a) {
      for (int j = 0; j < cols; j++) {
        row[j] = 2 * rng.nextDouble() - 1;
      }
    }
    return a;
  }

  static INDArray nd(double[][] a) {
    return Nd4j.create(a).castTo(DataType.DOUBLE);
  }

  @Test
  void forwardAndMergedWeightAreThePeftFormula() {
    Rng rng = new Rng(5);
    double[][] w = random(rng, O, I);
    double[][] bias = random(rng, 1, O);
    double[][] bMini = random(rng, R, M);
    double[][] x = random(rng, N, I);

    MiniAdapter a = new MiniAdapter(new Linear(nd(w), Nd4j.create(bias[0]).castTo(DataType.DOUBLE)), R, M,
        new ParameterStore(DataType.DOUBLE, (long) R * M));
    a.namedParameters().get("miss_block").assign(nd(bMini));
    INDArray y = a.forward(nd(x));
    INDArray merged = a.mergedWeight();

    for (int n = 0; n < N; n++) {
      double[] s = new double[R];
      for (int i = 0; i < I; i++) {
        s[i % R] += x[n][i]; // chunks of r columns, the last padded with zeros
      }
      for (int o = 0; o < O; o++) {
        double want = bias[0][o];
        for (int i = 0; i < I; i++) {
          want += x[n][i] * w[o][i];
        }
        for (int j = 0; j < R; j++) {
          want += s[j] * bMini[j][o % M]; // B[j, o] = B_mini[j, o mod mini_r]
        }
        assertEquals(want, y.getDouble(n, o), 1e-12, "y[" + n + "," + o + "]");
      }
    }
    for (int o = 0; o < O; o++) {
      for (int i = 0; i < I; i++) {
        assertEquals(w[o][i] + bMini[i % R][o % M], merged.getDouble(o, i), 1e-12, "W'[" + o + "," + i + "]");
      }
    }
    assertEquals(R * M, a.parameterCount());
  }

  @Test
  void miniRMustDivideEveryTargetsOutputs() {
    var e = org.junit.jupiter.api.Assertions.assertThrows(io.bonestream.core.BonestreamException.class,
        () -> io.bonestream.core.adapters.AdapterLayout.of(io.bonestream.engine.model.RandomModels.tinyConfig("llama", 1),
            AdapterConfig.builder().method(AdapterMethod.MINI).r(2).miniR(7).build()));
    assertTrue(e.getMessage().contains("mini needs mini_r to divide"), e.getMessage());
  }
}
