package io.bonestream.core.peft;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.BaseWeights;

/**
 * ΔW (O, I), row-major in float64, of one adapted projection: what merging adds to W and what a
 * LoRA export approximates. Each method's formula is the one its reference class in the engine
 * trains (docs/bone.md):
 *
 * <pre>
 * bone   ΔW[o, i] = B[i mod r, o]                       B (r, O)
 * mini   ΔW[o, i] = B_mini[i mod r, o mod mini_r]       B_mini (r, mini_r), tiled along O
 * bat    ΔW_{a,b} = (W_{a,b} + I_r) B_a                 B (O/r, r, r), W cut into r×r blocks
 * lora   ΔW = (alpha / r) B A                           A (r, I), B (O, r)
 * </pre>
 */
public final class DeltaWeights {
  private DeltaWeights() {}

  /** ΔW of one site of {@code adapter}; {@code base} gives W (read for bat only). */
  public static double[] of(PeftAdapter adapter, AdapterLayout.Site site, BaseWeights base) {
    AdapterConfig cfg = adapter.config();
    int in = site.in();
    int out = site.out();
    int r = cfg.r();
    double[] d = new double[Math.multiplyExact(in, out)];
    switch (cfg.method()) {
      case BONE -> {
        float[] b = adapter.tensor(site, "miss_block").toFloats(); // (r, O)
        for (int o = 0; o < out; o++) {
          for (int i = 0; i < in; i++) {
            d[o * in + i] = b[(i % r) * out + o];
          }
        }
      }
      case MINI -> {
        int m = cfg.miniR();
        float[] b = adapter.tensor(site, "miss_block").toFloats(); // (r, mini_r)
        for (int o = 0; o < out; o++) {
          for (int i = 0; i < in; i++) {
            d[o * in + i] = b[(i % r) * m + o % m];
          }
        }
      }
      case BAT -> {
        float[] b = adapter.tensor(site, "miss_block").toFloats(); // (O/r, r, r)
        float[] w = base.projectionWeight(site.modulePath());      // (O, I)
        for (int o = 0; o < out; o++) {
          int a = o / r;
          int p = o % r;
          for (int i = 0; i < in; i++) {
            int col = i / r * r; // the block's first column
            int s = i % r;
            double sum = b[(a * r + p) * r + s]; // the identity's term: B_a[p, s]
            for (int t = 0; t < r; t++) {
              sum += (double) w[o * in + col + t] * b[(a * r + t) * r + s];
            }
            d[o * in + i] = sum;
          }
        }
      }
      case LORA -> {
        float[] a = adapter.tensor(site, "lora_A.weight").toFloats(); // (r, I)
        float[] b = adapter.tensor(site, "lora_B.weight").toFloats(); // (O, r)
        double scale = cfg.loraAlpha() / r;
        for (int o = 0; o < out; o++) {
          for (int i = 0; i < in; i++) {
            double sum = 0;
            for (int k = 0; k < r; k++) {
              sum += (double) b[o * r + k] * a[k * in + i];
            }
            d[o * in + i] = scale * sum;
          }
        }
      }
    }
    return d;
  }
}
