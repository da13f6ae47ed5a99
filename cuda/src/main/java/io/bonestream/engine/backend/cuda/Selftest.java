package io.bonestream.engine.backend.cuda;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.backend.TrainingStateCodec;
import io.bonestream.engine.backend.cpu.CpuDevice;
import io.bonestream.engine.backend.device.DeviceCheck;
import io.bonestream.engine.backend.device.DeviceModel;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.backend.device.DeviceTransformer;
import io.bonestream.engine.backend.device.Goldens;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code bonestream selftest}: the device, its driver and runtime, its GEMM rate, every kernel
 * against the Java reference, the greedy golden and the four training goldens in the chosen
 * precision, and a training state that resumes to the same values; on a GPU also how bat merges
 * (a tensor-core merge that failed its check at start is a FAIL). Ends with PASS or FAIL. Devices:
 * CUDA, the CPU device (the default {@code cpu} backend, fp32 only) and the Java reference.
 *
 * <p>Criteria: fp32 — training goldens within their float32 tolerances, greedy golden exact.
 * bf16 — each training golden within 1.5× of PyTorch-bf16's distance, the greedy golden's next
 * token agreeing at ≥ 97% of the positions (teacher-forced; bf16 rounding may flip near-ties).
 */
public final class Selftest {
  private final PrintStream out;
  private int failures;

  private Selftest(PrintStream out) {
    this.out = out;
  }

  /** Runs every check; true when all pass. */
  public static boolean run(Device device, Precision precision, Path model, Path golden, PrintStream out) {
    return run(device, precision, model, golden, null, out);
  }

  /**
   * As {@link #run}, and with a task folder, a 200-step run of that real task in fp32 and bf16 whose
   * final held-out losses are compared (reported; the yardstick is 2%).
   */
  public static boolean run(Device device, Precision precision, Path model, Path golden, Path task, PrintStream out) {
    Selftest t = new Selftest(out);
    t.task = task;
    return t.all(device, precision, model, golden);
  }

  private Path task;

  private void line(boolean ok, String text) {
    if (!ok) {
      failures++;
    }
    out.println((ok ? "  ok    " : "  FAIL  ") + text);
    out.flush();
  }

  private boolean all(Device d, Precision precision, Path modelDir, Path golden) {
    out.println("device: " + d.describe());
    out.println("precision: " + precision);
    out.println("java: " + System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    boolean gpu = d instanceof CudaDevice;
    // the CPU device computes in float32 only: no bf16 GEMM, no bf16 operations to check
    boolean hasBf16 = !(d instanceof CpuDevice);
    int n = gpu ? 8192 : 256;
    if (hasBf16) {
      out.printf(Locale.ROOT, "GEMM rate, n=%d, random data: bf16 %.1f TFLOP/s, fp32 %.1f TFLOP/s%n", n,
          GemmRate.measure(d, DType.BF16, n), GemmRate.measure(d, DType.F32, gpu ? 4096 : n));
    } else {
      out.printf(Locale.ROOT, "GEMM rate, n=%d, random data: fp32 %.3f TFLOP/s%n", n, GemmRate.measure(d, DType.F32, n));
    }
    if (gpu) {
      mergePath(d.describe());
    }
    out.println("kernels against the Java reference:");
    List<DeviceCheck.Outcome> checks = DeviceCheck.run(d, hasBf16);
    int bad = 0;
    for (DeviceCheck.Outcome o : checks) {
      if (!o.ok()) {
        bad++;
        line(false, String.format(Locale.ROOT, "%s: relative distance %.3g (bound %.1g)", o.op(), o.distance(), o.bound()));
      }
    }
    line(bad == 0, (checks.size() - bad) + " of " + checks.size() + " operations agree");

    HostModel host = HostModel.load(modelDir);
    DeviceModel dm = DeviceModel.upload(d, host, precision);
    try {
      DeviceTransformer model = new DeviceTransformer(dm);
      Goldens.Greedy g = Goldens.greedy(model, Goldens.ids(modelDir.resolve("golden/greedy_from_bos_200.ids")));
      boolean greedyOk = precision == Precision.FP32 ? g.exact() : g.agreeing() >= 0.97 * g.positions();
      line(greedyOk, String.format(Locale.ROOT, "greedy golden (%s, teacher-forced): %d of %d next tokens%s",
          host.name(), g.agreeing(), g.positions(), g.exact() ? " (exact)" : ", first mismatch at " + g.firstMismatch()));
      for (Goldens.Case c : Goldens.CASES) {
        Goldens.Result r = Goldens.train(model, c, golden);
        boolean ok = precision == Precision.FP32 ? r.passesFp32() : r.passesBf16();
        String bound = precision == Precision.FP32
            ? String.format(Locale.ROOT, "tolerance %.0e", c.fp32Tolerance())
            : String.format(Locale.ROOT, "PyTorch bf16 %.2g, bound %.2g", c.torchBf16Distance(), 1.5 * c.torchBf16Distance());
        line(ok, String.format(Locale.ROOT, "training golden %-26s rel L2 %.2e, worst loss %.2e (%s), %.1f s",
            c.name(), r.relL2(), r.lossDiff(), bound, r.seconds()));
      }
      line(resumes(model, golden), "a training state saved after 2 steps resumes to the uninterrupted run's values");
      if (precision == Precision.FP32) {
        // SGD: the optimizer adds no amplification of its own (AdamW's first steps move every value
        // by about lr whatever its gradient's size, so LoRA's zero-initialised B turns float32
        // rounding into distances near 4e-3 after 4 steps, between the CPU and Java devices too)
        double sgd = loraAgainstReference(model, host, golden, OptimizerKind.SGD);
        line(sgd < 1e-4, String.format(Locale.ROOT,
            "lora r 8, 4 SGD steps: adapter values at rel L2 %.2e from the Java reference device (bound 1e-4)", sgd));
        out.printf(Locale.ROOT, "  info  lora r 8, 4 AdamW steps: rel L2 %.2e from the Java reference device%n",
            loraAgainstReference(model, host, golden, OptimizerKind.ADAMW));
      }
      if (task != null && precision == Precision.BF16 && java.nio.file.Files.isDirectory(task)) {
        Goldens.Task mine = Goldens.task(model, task, 200);
        Precision other = precision == Precision.FP32 ? Precision.BF16 : Precision.FP32;
        DeviceModel om = DeviceModel.upload(d, host, other);
        try {
          Goldens.Task theirs = Goldens.task(new DeviceTransformer(om), task, 200);
          Goldens.Task fp32 = precision == Precision.FP32 ? mine : theirs;
          Goldens.Task bf16 = precision == Precision.FP32 ? theirs : mine;
          out.printf(Locale.ROOT, "  info  200-step task (bat r4, AdamW 1e-2): held-out loss %.4f -> fp32 %.4f, bf16 %.4f, "
              + "bf16 off by %.2f%% (%.1f s + %.1f s)%n", fp32.evalBefore(), fp32.evalAfter(), bf16.evalAfter(),
              100 * Math.abs(bf16.evalAfter() / fp32.evalAfter() - 1), mine.seconds(), theirs.seconds());
        } finally {
          om.close();
        }
      }
    } finally {
      dm.close();
    }
    out.println(failures == 0 ? "PASS" : "FAIL (" + failures + ")");
    return failures == 0;
  }

  /**
   * The tensor-core attention: a FAIL when it failed its check at start (the device then computes
   * attention on CUDA cores). bat's tensor-core merge: a FAIL when the device fell back to two passes because the kernel
   * failed its check at start (the operations below would then check the two passes only); not
   * when the two passes were asked for (BONESTREAM_CUDA_BAT_MMA=0) or the GPU predates sm_80.
   */
  private void mergePath(String description) {
    if (description.contains(CudaDevice.ATTENTION_FELL_BACK)) {
      line(false, "the tensor-core attention failed its check at start: " + description.substring(
          description.indexOf(CudaDevice.ATTENTION_FELL_BACK)) + " (BONESTREAM_CUDA_ATTENTION=cores turns it off on purpose)");
    }
    MergePath path = MergePath.of(description);
    switch (path) {
      case TENSOR_CORES -> line(true, "bat merge on tensor cores: agrees with the two-pass merge (checked at start)");
      case TWO_PASSES_ON_PURPOSE -> line(true, "bat merge in two passes, turned off on purpose (BONESTREAM_CUDA_BAT_MMA=0)");
      case TWO_PASSES_OLD_GPU -> line(true, "bat merge in two passes: no bf16 tensor-core kernel before sm_80");
      case FELL_BACK -> line(false, "bat merge on tensor cores failed its check at start: " + MergePath.reason(description)
          + " (BONESTREAM_CUDA_BAT_MMA=0 turns it off on purpose)");
      default -> line(false, "the device's description does not say how bat merges: " + description);
    }
  }

  /**
   * LoRA (no golden of its own; its math is checked against the ND4J engine on the Java device in
   * the engine's tests): 4 steps here and on the Java reference device, fp32, relative L2 distance
   * of the adapter values.
   */
  private static double loraAgainstReference(DeviceTransformer model, HostModel host, Path golden,
      OptimizerKind optimizer) {
    List<Example> data = Goldens.data(golden);
    AdapterConfig ac = AdapterConfig.builder().method(AdapterMethod.LORA).r(8).build();
    TrainConfig tc = TrainConfig.builder().optimizer(optimizer).lr(1e-2).batchSize(4).build();
    AdapterLayout layout = AdapterLayout.of(model.model().config(), ac);
    float[] here = loraSteps(model, ac, tc, layout, data);
    try (Device java = new io.bonestream.engine.backend.device.JavaDevice();
        DeviceModel jm = DeviceModel.upload(java, host, Precision.FP32)) {
      float[] ref = loraSteps(new DeviceTransformer(jm), ac, tc, layout, data);
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < ref.length; i++) {
        diff += Math.pow((double) here[i] - ref[i], 2);
        norm += Math.pow(ref[i], 2);
      }
      return norm > 0 ? Math.sqrt(diff / norm) : Double.NaN;
    }
  }

  private static float[] loraSteps(DeviceTransformer model, AdapterConfig ac, TrainConfig tc, AdapterLayout layout,
      List<Example> data) {
    try (DeviceTrainer b = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(tc.seed())))) {
      TrainingSession s = new TrainingSession(b, tc, new Rng(tc.seed()));
      for (int i = 0; i < 4; i++) {
        s.step(data.subList(4 * i, 4 * i + 4));
      }
      return b.parameters();
    }
  }

  /** 4 steps straight vs 2 steps, state bytes, a new trainer, 2 more steps: equal values. */
  private boolean resumes(DeviceTransformer model, Path golden) {
    List<Example> data = Goldens.data(golden);
    AdapterConfig ac = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    TrainConfig tc = TrainConfig.builder().lr(1e-2).batchSize(4).build();
    AdapterLayout layout = AdapterLayout.of(model.model().config(), ac);
    float[] straight;
    try (DeviceTrainer b = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(tc.seed())))) {
      TrainingSession s = new TrainingSession(b, tc, new Rng(tc.seed()));
      for (int i = 0; i < 4; i++) {
        s.step(data.subList(4 * i, 4 * i + 4));
      }
      straight = b.parameters();
    }
    byte[] saved;
    try (DeviceTrainer b = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(tc.seed())))) {
      TrainingSession s = new TrainingSession(b, tc, new Rng(tc.seed()));
      for (int i = 0; i < 2; i++) {
        s.step(data.subList(4 * i, 4 * i + 4));
      }
      saved = TrainingStateCodec.encode(s.state(layout, model.model().fingerprint()));
    }
    TrainingState state = TrainingStateCodec.decode(saved);
    try (DeviceTrainer b = DeviceTrainer.open(model, ac, tc, layout.initialValues(new Rng(0)))) {
      TrainingSession s = new TrainingSession(b, state.trainConfig(), new Rng(state.rngState()));
      s.load(state, layout);
      for (int i = 2; i < 4; i++) {
        s.step(data.subList(4 * i, 4 * i + 4));
      }
      float[] resumed = b.parameters();
      double diff = 0;
      double norm = 0;
      for (int i = 0; i < resumed.length; i++) {
        diff += Math.pow(resumed[i] - straight[i], 2);
        norm += Math.pow(straight[i], 2);
      }
      return norm > 0 && Math.sqrt(diff / norm) < 1e-6;
    }
  }
}
