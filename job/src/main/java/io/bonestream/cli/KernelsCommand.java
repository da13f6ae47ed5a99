package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.cpu.CpuAttentionBench;
import io.bonestream.engine.backend.cuda.GpuBench;
import io.bonestream.engine.backend.cuda.GpuMain;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "kernels", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Times bat's memory-bound GPU kernels (the merge W + ΔW and dB, each",
        "variant) on the projection weights of a bench config, against a device-to-",
        "device copy of the same weight, in microseconds and TB/s; variants of the",
        "merge must give the same bits. With --attention: the fused attention kernels",
        "(tensor cores against CUDA cores) at the config's heads, in milliseconds and",
        "TFLOP/s. Needs a GPU (docs/gpu.md); the same command is in the lean GPU",
        "distribution. With --attention --backend cpu: the CPU device's attention at",
        "each tile size, in GFLOP/s (docs/performance.md)."})
final class KernelsCommand implements Callable<Integer> {
  @Option(names = {"--configs", "--config"}, paramLabel = "NAME[,NAME]",
      description = "25M, tinyllama-1.1B, llama3-8B (default: llama3-8B; 25M with --backend cpu)")
  String configs;

  @Option(names = "--backend", defaultValue = "cuda", description = "cuda, or cpu with --attention "
      + "(default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--r", description = "block size (bat, bone) or rank (lora) (default: the config's)")
  Integer r;

  @Option(names = "--reps", defaultValue = "20", description = "timed launches per kernel (default: ${DEFAULT-VALUE})")
  int reps;

  @Option(names = "--compile-only", description = "instead: compile every kernel with NVRTC for each --arch and "
      + "check each CUBIN holds them all (no GPU needed, only libnvrtc)")
  boolean compileOnly;

  @Option(names = "--arch", paramLabel = "sm_XY[,...]", description = "with --compile-only: the architectures; "
      + "native: this GPU's (default: sm_80,sm_86,sm_89,sm_90)")
  String arch;

  @Option(names = "--attention", description = "instead: time fused causal attention, forward and backward, on "
      + "the tensor-core and the CUDA-core kernels, and compare their results")
  boolean attention;

  @Option(names = "--batch", description = "with --attention: sequences (default: the config's)")
  Integer batch;

  @Option(names = "--seq", description = "with --attention: tokens per sequence (default: the config's)")
  Integer seq;

  @Override
  public Integer call() {
    if (!backend.equals("cuda") && !backend.equals("cpu")) {
      throw new BonestreamException("--backend must be cuda or cpu, got '" + backend + "'");
    }
    boolean cpu = backend.equals("cpu");
    if (cpu && !attention) {
      throw new BonestreamException("--backend cpu goes with --attention (the other kernels are the GPU's)");
    }
    if (configs == null) {
      configs = cpu ? "25M" : "llama3-8B";
    }
    if ((batch != null || seq != null) && !attention) {
      throw new BonestreamException("--batch and --seq go with --attention");
    }
    if (attention) {
      if (compileOnly || arch != null || r != null) {
        throw new BonestreamException("--attention does not go with --compile-only, --arch or --r");
      }
      if (batch != null && batch < 1 || seq != null && seq < 1 || reps < 1) {
        throw new BonestreamException("--batch, --seq and --reps must be at least 1");
      }
      // every name known before anything runs
      List<GpuBench.Shape> shapes = java.util.Arrays.stream(configs.split(",")).map(n -> GpuBench.shape(n.trim()))
          .toList();
      if (cpu) {
        for (GpuBench.Shape s : shapes) {
          CpuAttentionBench.run(s.name(), s.heads(), s.kvHeads(), s.hidden() / s.heads(),
              batch != null ? batch : s.batch(), seq != null ? seq : s.seq(), reps, System.out);
        }
        return 0;
      }
      List<String> args = new ArrayList<>(List.of("kernels", "--attention", "--configs", configs, "--reps", "" + reps));
      if (batch != null) {
        args.add("--batch");
        args.add("" + batch);
      }
      if (seq != null) {
        args.add("--seq");
        args.add("" + seq);
      }
      return GpuMain.run(args.toArray(new String[0]));
    }
    if (compileOnly) {
      List<String> args = new ArrayList<>(List.of("kernels", "--compile-only"));
      if (arch != null) {
        args.add("--arch");
        args.add(arch);
      }
      return GpuMain.run(args.toArray(new String[0]));
    }
    if (arch != null) {
      throw new BonestreamException("--arch goes with --compile-only");
    }
    // usage errors before any GPU is looked for
    for (String name : configs.split(",")) {
      GpuBench.shape(name.trim()); // names the known configs when this one is not
    }
    if (r != null && r != 32 && r != 64 && r != 128) {
      throw new BonestreamException("--r must be 32, 64 or 128 (the widths of the tensor-core kernels), got " + r);
    }
    if (reps < 1) {
      throw new BonestreamException("--reps must be at least 1, got " + reps);
    }
    List<String> args = new ArrayList<>(List.of("kernels", "--configs", configs, "--reps", "" + reps));
    if (r != null) {
      args.add("--r");
      args.add("" + r);
    }
    return GpuMain.run(args.toArray(new String[0]));
  }
}
