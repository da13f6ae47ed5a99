package io.bonestream.cli;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.bench.TrainBenchmark;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModel;
import io.bonestream.engine.util.Json;
import io.bonestream.engine.util.Threads;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Measures training speed: tokens/s of AdamW steps on random tokens, and the",
        "fraction of this machine's float32 GEMM rate the step reaches (measured in the same run).",
        "Prints one JSON line. The defaults are the reference PyTorch benchmark's 25M model."})
final class BenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", paramLabel = "DIR", description = "a model folder instead of a random model")
  Path model;

  @Option(names = "--dim", defaultValue = "512", description = "random model: hidden size (default: ${DEFAULT-VALUE})")
  int dim;

  @Option(names = "--layers", defaultValue = "8", description = "(default: ${DEFAULT-VALUE})")
  int layers;

  @Option(names = "--heads", defaultValue = "8", description = "(default: ${DEFAULT-VALUE})")
  int heads;

  @Option(names = "--kv-heads", defaultValue = "8", description = "(default: ${DEFAULT-VALUE})")
  int kvHeads;

  @Option(names = "--hidden", defaultValue = "1376", description = "intermediate size (default: ${DEFAULT-VALUE})")
  int hidden;

  @Option(names = "--vocab", defaultValue = "32000", description = "(default: ${DEFAULT-VALUE})")
  int vocab;

  @Option(names = "--batch", defaultValue = "8", description = "(default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--seq", defaultValue = "256", description = "(default: ${DEFAULT-VALUE})")
  int seq;

  @Option(names = "--method", defaultValue = "bone", converter = Converters.Method.class,
      description = "bat, bone or lora (default: ${DEFAULT-VALUE})")
  AdapterMethod method;

  @Option(names = "--r", defaultValue = "32", description = "(default: ${DEFAULT-VALUE})")
  int r;

  @Option(names = "--steps", defaultValue = "5", description = "timed steps (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--warmup", defaultValue = "2", description = "untimed steps first (default: ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--threads", defaultValue = "0", description = "compute threads; 0 = auto: 1 below hidden size 512, else one per core")
  int threads;

  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|cuda",
      description = "cuda: random models generated on the GPU, with --config (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--config", defaultValue = "25M", paramLabel = "NAME[,NAME]",
      description = "cuda: 25M, tinyllama-1.1B, llama3-8B (their batch and r unless given; default: ${DEFAULT-VALUE})")
  String config;

  @Option(names = "--precision", defaultValue = "bf16", paramLabel = "bf16|fp32", description = "cuda only")
  String precision;

  @Override
  public Integer call() {
    if (backend.equals("cuda")) {
      // the GPU bench of bonestream-cuda; --batch/--seq/--r only when given
      java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("bench", "--backend", "cuda",
          "--configs", config, "--methods", method.id(), "--precision", precision, "--steps", "" + steps,
          "--warmup", "" + warmup));
      CommandLine.ParseResult pr = spec.commandLine().getParseResult();
      for (String o : new String[] {"--batch", "--seq", "--r"}) {
        if (pr.hasMatchedOption(o)) {
          args.add(o);
          args.add(pr.matchedOptionValue(o, 0).toString());
        }
      }
      return io.bonestream.engine.backend.cuda.GpuMain.run(args.toArray(new String[0]));
    }
    if (!backend.equals("cpu")) {
      throw new BonestreamException("unknown backend '" + backend + "' (known: cpu, cuda)");
    }
    if (batch <= 0 || seq <= 1 || steps <= 0 || warmup < 0) {
      throw new BonestreamException("--batch, --steps must be positive, --seq at least 2, --warmup ≥ 0");
    }
    BaseModel base = model != null ? BaseModel.load(model)
        : RandomModel.create(RandomModel.config(dim, layers, heads, kvHeads, hidden, vocab, Math.max(2048, seq)),
            DataType.FLOAT, 0.02, 0.0, false, 0);
    Threads.configure(Threads.auto(threads, base.config().hiddenSize()));
    TrainBenchmark.Result res = TrainBenchmark.run(base, AdapterConfig.builder().method(method).r(r).build(),
        batch, seq, warmup, steps, Threads.current());
    spec.commandLine().getOut().println(Json.toCompactString(res));
    return 0;
  }
}
