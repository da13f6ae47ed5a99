package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.device.JavaDevice;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.Buf;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * CudaBackendTest's training comparisons and bounds, run here on the CPU with the Java reference
 * device in the GPU's place: in fp32, and in bf16 as the Java device emulates it (rounding on
 * every store, as the GPU's kernels store), the bounds hold with room; and a device whose bat dB is
 * 20% off fails them, so they are tight enough to catch a wrong kernel.
 */
@Timeout(300)
class TrainingComparisonTest {
  private final JavaDevice java = new JavaDevice();

  @Test
  void fp32BoundsHoldForTheJavaDevice() {
    ModelConfig config = TrainingComparison.config(32, 48, 4, 2, 40, 2);
    List<Example> data = TrainingComparison.data(4 * CudaBackendTest.STEPS, 40, 9);
    TrainConfig tc = TrainConfig.builder().lr(1e-2).weightDecay(0.01).maxGradNorm(0.5).batchSize(4).build();
    for (AdapterMethod method : AdapterMethod.values()) {
      TrainingComparison.Outcome o = TrainingComparison.run(java, Precision.FP32, config,
          AdapterConfig.builder().method(method).r(4).build(), tc, data, CudaBackendTest.STEPS);
      System.out.println("fp32 " + method.id() + " (java device): " + o);
      assertTrue(o.worstLossDifference() <= CudaBackendTest.FP32_LOSS / 10, method.id() + ": " + o);
      assertTrue(o.updateDistance() <= CudaBackendTest.FP32_UPDATE / 10, method.id() + ": " + o);
    }
  }

  @Test
  void bf16BoundsHoldForEmulatedBf16() {
    ModelConfig config = TrainingComparison.config(64, 128, 4, 2, 96, 2);
    List<Example> data = TrainingComparison.data(4 * CudaBackendTest.STEPS, 96, 11);
    for (AdapterMethod method : AdapterMethod.values()) {
      AdapterConfig ac = AdapterConfig.builder().method(method).r(method == AdapterMethod.BAT ? 4 : 8).build();
      TrainingComparison.Outcome o = TrainingComparison.run(java, Precision.BF16, config, ac, CudaBackendTest.sgd(method),
          data, CudaBackendTest.STEPS);
      System.out.println("bf16 " + method.id() + " (java device): " + o);
      assertTrue(o.worstLossDifference() <= CudaBackendTest.BF16_LOSS / 2, method.id() + ": " + o);
      assertTrue(o.updateDistance() <= CudaBackendTest.BF16_UPDATE / 2, method.id() + ": " + o);
    }
  }

  @Test
  void bf16BoundsHoldForEmulatedBf16AtTensorCoreWidths() {
    ModelConfig config = TrainingComparison.config(128, 256, 4, 2, 128, 2);
    List<Example> data = TrainingComparison.data(4 * CudaBackendTest.STEPS, 128, 13);
    for (int r : new int[] {32, 64}) {
      TrainingComparison.Outcome o = TrainingComparison.run(java, Precision.BF16, config,
          AdapterConfig.builder().method(AdapterMethod.BAT).r(r).build(), CudaBackendTest.sgd(AdapterMethod.BAT), data,
          CudaBackendTest.STEPS);
      System.out.println("bf16 bat r " + r + " (java device): " + o);
      assertTrue(o.worstLossDifference() <= CudaBackendTest.BF16_LOSS / 2, "r " + r + ": " + o);
      assertTrue(o.updateDistance() <= CudaBackendTest.BF16_UPDATE / 2, "r " + r + ": " + o);
    }
  }

  @Test
  void bf16BoundsHoldForEmulatedBf16AtTensorCoreAttentionWidths() {
    for (int hd : new int[] {64, 128}) {
      ModelConfig config = TrainingComparison.config(2 * hd, 4 * hd, 2, 1, 96, 2);
      List<Example> data = TrainingComparison.data(4 * CudaBackendTest.STEPS, 96, 17, 70, 150);
      TrainingComparison.Outcome o = TrainingComparison.run(java, Precision.BF16, config,
          AdapterConfig.builder().method(AdapterMethod.BONE).r(8).build(), CudaBackendTest.sgd(AdapterMethod.BONE),
          data, CudaBackendTest.STEPS);
      System.out.println("bf16 bone hd " + hd + " (java device): " + o);
      assertTrue(o.worstLossDifference() <= CudaBackendTest.BF16_LOSS / 2, "hd " + hd + ": " + o);
      assertTrue(o.updateDistance() <= CudaBackendTest.BF16_UPDATE / 2, "hd " + hd + ": " + o);
    }
  }

  @Test
  void aWrongBatGradientFailsTheBf16Bounds() {
    JavaDevice wrong = new JavaDevice() {
      @Override
      public void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
        float[] before = download(dBlocks);
        super.batBlockGrad(w, m, dBlocks, outF, inF, r);
        float[] after = download(dBlocks);
        for (int i = 0; i < after.length; i++) {
          after[i] = before[i] + 0.8f * (after[i] - before[i]);
        }
        upload(after, dBlocks);
      }
    };
    ModelConfig config = TrainingComparison.config(128, 256, 4, 2, 128, 2);
    List<Example> data = TrainingComparison.data(4 * CudaBackendTest.STEPS, 128, 13);
    TrainingComparison.Outcome o = TrainingComparison.run(wrong, Precision.BF16, config,
        AdapterConfig.builder().method(AdapterMethod.BAT).r(32).build(), CudaBackendTest.sgd(AdapterMethod.BAT), data,
        CudaBackendTest.STEPS);
    System.out.println("bf16 bat r 32, dB 20% short (java device): " + o);
    assertTrue(o.updateDistance() > CudaBackendTest.BF16_UPDATE, o.toString());
  }
}
