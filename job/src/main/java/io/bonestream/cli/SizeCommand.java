package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.cuda.GpuBench;
import io.bonestream.engine.backend.device.MemoryPlan;
import io.bonestream.engine.config.TrainConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "size", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Prints the GPU and host memory a TaskManager needs to train one adapter: a model",
        "folder's shape or a named one, the method, rank, batch, sequence length and precision. The",
        "GPU figure runs the device engine's own allocations for that step (no GPU needed); `bench`",
        "on the GPU reports the measured peak beside it (docs/gpu.md). With --backend cpu: the",
        "native memory the CPU backend takes for the same step (docs/operations.md, Sizing)."})
final class SizeCommand implements Callable<Integer> {
  @Spec picocli.CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", paramLabel = "DIR", description = "a Hugging Face model folder (its config.json)")
  Path model;

  @Option(names = "--config", paramLabel = "NAME", description = "or a named shape: 25M, tinyllama-1.1B, llama3-8B (in any case)")
  String config;

  @Option(names = "--method", defaultValue = "bone", description = "bat, bone, lora or mini (default: ${DEFAULT-VALUE})")
  String method;

  @Option(names = "--r", defaultValue = "64",
      description = "block size (bat, bone) or rank (lora) (default: ${DEFAULT-VALUE})")
  int r;

  @Option(names = "--mini-r", defaultValue = "1", description = "mini's block width (default: ${DEFAULT-VALUE})")
  int miniR;

  @Option(names = "--batch", defaultValue = "1", description = "sequences per micro-batch (default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--seq", defaultValue = "1024", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
  int seq;

  @Option(names = "--backend", defaultValue = "cuda", description = "cuda or cpu (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--precision", description = "bf16 or fp32 (default: bf16 on cuda; cpu computes in fp32 only)")
  String precision;

  @Option(names = "--recompute", description = "recompute each layer in the backward pass (job.yaml's recompute)")
  boolean recompute;

  /** The named shape with room for {@code seq} positions. */
  private static GpuBench.Shape longEnough(GpuBench.Shape s, int seq) {
    return new GpuBench.Shape(s.name(), s.hidden(), s.intermediate(), s.layers(), s.heads(), s.kvHeads(), s.vocab(),
        s.batch(), Math.max(s.seq(), seq), s.r());
  }

  @Override
  public Integer call() {
    if ((model == null) == (config == null)) {
      throw new BonestreamException("give one of --model DIR or --config NAME");
    }
    if (batch < 1 || seq < 1 || r < 1) {
      throw new BonestreamException("--batch, --seq and --r must be at least 1");
    }
    boolean cpu = switch (backend) {
      case "cpu" -> true;
      case "cuda" -> false;
      default -> throw new BonestreamException("unknown backend '" + backend + "' (known: cpu, cuda)");
    };
    if (cpu && precision != null && Precision.fromId(precision) != Precision.FP32) {
      throw new BonestreamException("the cpu backend computes in float32 only: --precision fp32");
    }
    GpuBench.Shape shape = model != null ? null : GpuBench.find(config).orElseThrow(() ->
        new BonestreamException("unknown shape '" + config + "' (known: " + GpuBench.KNOWN + ")"));
    ModelConfig c = model != null ? ModelConfig.read(model) : longEnough(shape, seq).config();
    String name = model != null ? model.getFileName().toString() : shape.name();
    AdapterMethod m = AdapterMethod.fromId(method);
    AdapterConfig adapter = AdapterConfig.builder().method(m).r(r).miniR(m == AdapterMethod.MINI ? miniR : 1).build();
    TrainConfig train = TrainConfig.builder().batchSize(batch).build();
    PrintWriter out = spec.commandLine().getOut();
    if (cpu) {
      MemoryPlan plan = MemoryPlan.onCpu(c, adapter, train, recompute, batch, seq);
      out.printf(Locale.ROOT, "%s (%d layers, hidden %d), %s r=%d, %d x %d tokens, fp32 on the cpu backend%s%n",
          name, c.numLayers(), c.hiddenSize(), m, r, batch, seq,
          recompute ? ", recomputing" : "");
      out.printf(Locale.ROOT, "native: %.3f GiB = base model (float32) %.3f + adapter and optimizer %.3f + activations"
          + " %.3f, beside the JVM heap (plus about 64 MiB of per-thread scratch and the runtime's libraries:"
          + " docs/operations.md)%n", MemoryPlan.gib(plan.deviceBytes()), MemoryPlan.gib(plan.weightBytes()),
          MemoryPlan.gib(plan.adapterBytes()), MemoryPlan.gib(plan.activationBytes()));
      out.flush();
      return 0;
    }
    Precision p = Precision.fromId(precision == null ? "bf16" : precision);
    MemoryPlan plan = MemoryPlan.of(c, adapter, train, p, recompute, batch, seq);
    out.printf(Locale.ROOT, "%s (%d layers, hidden %d), %s r=%d, %d x %d tokens, %s%s%n",
        name, c.numLayers(), c.hiddenSize(), m, r, batch, seq, p,
        recompute ? ", recomputing" : "");
    out.printf(Locale.ROOT, "GPU:  %.2f GiB = weights %.2f + adapter and optimizer %.2f + activations %.2f"
        + " (plus the CUDA context and cuBLAS workspace)%n", MemoryPlan.gib(plan.deviceBytes()),
        MemoryPlan.gib(plan.weightBytes()), MemoryPlan.gib(plan.adapterBytes()), MemoryPlan.gib(plan.activationBytes()));
    out.printf(Locale.ROOT, "host: %.3f GiB per live adapter besides the JVM heap, and %.3f GiB more while one is"
        + " checkpointed; the base model's files are mapped, not copied%n", MemoryPlan.gib(plan.hostAdapterBytes()),
        MemoryPlan.gib(plan.hostCheckpointBytes()));
    out.flush();
    return 0;
  }
}
