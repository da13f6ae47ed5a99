package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.DeviceBackends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.device.DeviceCheck;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.backend.device.Goldens;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CUDA backend on a real GPU: every kernel against the Java reference, the goldens in fp32
 * and bf16, and training steps against the CPU engine. Without a usable GPU every test is skipped
 * with the reason (CI has none).
 */
class CudaBackendTest {
  private static CudaDevice device;
  private static String unavailable;

  @BeforeAll
  static void open() {
    try {
      device = CudaDevice.open(0);
    } catch (CudaUnavailableException | IllegalStateException e) {
      unavailable = e.getMessage();
      System.out.println("CUDA tests skipped: " + unavailable);
    }
  }

  @AfterAll
  static void close() {
    if (device != null) {
      device.close();
    }
  }

  private static void needGpu() {
    assumeTrue(device != null, () -> "CUDA tests skipped: " + unavailable);
  }

  @Test
  void kernelsMatchTheJavaReference() {
    needGpu();
    for (DeviceCheck.Outcome o : DeviceCheck.run(device)) {
      assertTrue(o.ok(), o.toString());
    }
  }

  @Test
  void goldensInFp32AndBf16() {
    needGpu();
    for (Precision p : Precision.values()) {
      DeviceModel m = DeviceModel.upload(device, HostModel.load(TestFiles.stories260K()), p);
      try {
        DeviceTransformer t = new DeviceTransformer(m);
        Goldens.Greedy g = Goldens.greedy(t, Goldens.ids(TestFiles.stories260K().resolve("golden/greedy_from_bos_200.ids")));
        assertTrue(p == Precision.BF16 ? g.agreeing() >= 0.97 * g.positions() : g.exact(), p + " greedy: " + g);
        for (Goldens.Case c : Goldens.CASES) {
          Goldens.Result r = Goldens.train(t, c, TestFiles.golden());
          assertTrue(p == Precision.FP32 ? r.passesFp32() : r.passesBf16(), p + " " + c.name() + ": " + r.relL2());
        }
      } finally {
        m.close();
      }
    }
  }

  @Test
  void trainsLikeTheCpuEngine() {
    needGpu();
    BaseModel base = RandomModels.model(RandomModels.tinyConfig("qwen2", 2), DataType.FLOAT, true, 4);
    List<Example> data = new ArrayList<>();
    Rng rng = new Rng(9);
    for (int i = 0; i < 8; i++) {
      int[] ids = new int[5 + rng.nextInt(7)];
      for (int t = 0; t < ids.length; t++) {
        ids[t] = 1 + rng.nextInt(31);
      }
      data.add(new Example(ids, ids.clone()));
    }
    for (AdapterMethod method : AdapterMethod.values()) {
      AdapterConfig ac = AdapterConfig.builder().method(method).r(4).build();
      TrainConfig tc = TrainConfig.builder().lr(1e-2).weightDecay(0.01).maxGradNorm(0.5).batchSize(4).build();
      try (DeviceBackends gpu = DeviceBackends.on(device, Precision.FP32)) {
        Trainer cpu = Trainer.create(base, ac, tc, io.bonestream.engine.backend.BackendFactory.ND4J);
        Trainer dev = Trainer.create(base, ac, tc, gpu);
        for (int s = 0; s < 2; s++) {
          StepResult a = cpu.step(data.subList(4 * s, 4 * s + 4));
          StepResult b = dev.step(data.subList(4 * s, 4 * s + 4));
          assertEquals(a.loss(), b.loss(), 1e-4 * a.loss(), method + " loss");
        }
        INDArray want = cpu.adapters().flatParameters();
        INDArray got = dev.adapters().flatParameters();
        assertTrue(got.sub(want).norm2Number().doubleValue() < 1e-3 * want.norm2Number().doubleValue(), method.id());
        dev.close();
      }
    }
  }
}
