package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostModel;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The memory plan against what a real device allocates for the same step: the Java device, which
 * keeps every buffer in memory and counts it, training stories260K with real weights. Within 10%
 * (the bound for the GPU's own count); in fact the same bytes.
 */
@Timeout(120)
class MemoryPlanTest {
  @Test
  void thePlanIsWhatARealDeviceAllocates() {
    HostModel host = HostModel.load(TestFiles.stories260K());
    TrainConfig train = TrainConfig.builder().lr(1e-3).batchSize(2).build();
    for (Precision p : Precision.values()) {
      for (AdapterMethod method : AdapterMethod.values()) {
        for (boolean recompute : new boolean[] {false, true}) {
        AdapterConfig adapter = AdapterConfig.builder().method(method).r(4).build();
        int batch = 2;
        int seq = 37;
        JavaDevice d = new JavaDevice();
        long weights;
        long adapterBytes;
        long peak;
        try (DeviceModel m = DeviceModel.upload(d, host, p)) {
          weights = d.allocatedBytes();
          float[] initial = new float[(int) AdapterLayout.of(host.config(), adapter).size()];
          try (DeviceTrainer t = DeviceTrainer.open(new DeviceTransformer(m), adapter, train, recompute, initial)) {
            adapterBytes = d.allocatedBytes() - weights;
            d.resetPeak();
            t.zeroGradients();
            t.forwardBackward(batch(batch, seq, host.config().vocabSize()), batch * (double) seq);
            t.gradientNorm();
            t.update(1.0, 1e-3, 1);
            peak = d.peakAllocatedBytes();
          }
        }
        MemoryPlan plan = MemoryPlan.of(host.config(), adapter, train, p, recompute, batch, seq, d.lossChunkElements(),
            false);
        String what = method + " " + p + (recompute ? " recomputing" : "");
        assertEquals(weights, plan.weightBytes(), what + ": weights");
        assertEquals(adapterBytes, plan.adapterBytes(), what + ": adapter");
        long real = peak;
        assertTrue(Math.abs(plan.deviceBytes() - real) <= 0.1 * real,
            what + ": planned " + plan.deviceBytes() + " bytes, the Java device took " + real);
        }
      }
    }
  }

  @Test
  void longerSequencesNeedMoreAndAllShapesPlanQuickly() {
    HostModel host = HostModel.load(TestFiles.stories260K());
    AdapterConfig bone = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    TrainConfig train = TrainConfig.builder().batchSize(1).build();
    MemoryPlan shorter = MemoryPlan.of(host.config(), bone, train, Precision.BF16, false, 1, 128);
    MemoryPlan longer = MemoryPlan.of(host.config(), bone, train, Precision.BF16, false, 1, 256);
    MemoryPlan recomputing = MemoryPlan.of(host.config(), bone, train, Precision.BF16, true, 1, 256);
    assertEquals(shorter.weightBytes(), longer.weightBytes());
    assertTrue(longer.activationBytes() > shorter.activationBytes());
    assertTrue(recomputing.activationBytes() < longer.activationBytes(), "recomputation saves nothing");
  }

  private static TokenBatch batch(int batch, int seq, int vocab) {
    List<int[]> ids = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      int[] x = new int[seq];
      int[] y = new int[seq];
      for (int i = 0; i < seq; i++) {
        x[i] = (i * 31 + b * 7) % vocab;
        y[i] = (i * 17 + 3) % vocab;
      }
      ids.add(x);
      labels.add(y);
    }
    return TokenBatch.of(ids, labels);
  }
}
