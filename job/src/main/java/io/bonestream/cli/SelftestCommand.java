package io.bonestream.cli;

import io.bonestream.engine.backend.cuda.GpuMain;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "selftest", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Checks a training backend on this machine: device, driver and runtime versions,",
        "GEMM rate, every kernel against the Java reference, the greedy and training goldens",
        "(stories260K) in the chosen precision, and resuming a saved state. Ends with PASS or FAIL",
        "(exit code 0 or 1). The same command is in the lean GPU distribution (docs/gpu.md)."})
final class SelftestCommand implements Callable<Integer> {
  @Option(names = "--backend", defaultValue = "cuda", paramLabel = "cuda|cpu|java",
      description = "cuda; cpu (the CPU device: the default backend of train and run); or java (the reference "
          + "device, on the CPU) (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--precision", paramLabel = "bf16|fp32", description = "the precision checked (default: bf16; fp32 for cpu, its only one)")
  String precision;

  @Option(names = "--model", paramLabel = "DIR", description = "stories260K (default: models/stories260K)")
  String model;

  @Option(names = "--golden", paramLabel = "DIR", description = "the training goldens (default: the repository's)")
  String golden;

  @Override
  public Integer call() {
    List<String> args = new ArrayList<>(List.of("selftest", "--backend", backend));
    if (precision != null) {
      args.add("--precision");
      args.add(precision);
    }
    if (model != null) {
      args.add("--model");
      args.add(model);
    }
    if (golden != null) {
      args.add("--golden");
      args.add(golden);
    }
    return GpuMain.run(args.toArray(new String[0]));
  }
}
