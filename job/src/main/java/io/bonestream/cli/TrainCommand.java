package io.bonestream.cli;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.ScheduleKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.train.TrainingRun;
import io.bonestream.engine.util.Threads;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Trains an adapter offline on a JSONL file.",
        "Writes the adapter as a PEFT folder, with losses.json (the loss of each step)",
        "and trainer_state.bin (to resume with --resume)."})
final class TrainCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder")
  Path model;

  @Option(names = "--data", required = true, paramLabel = "FILE.jsonl",
      description = "records: {prompt,response}, {instruction,input,output}, {messages}, or {input_ids,labels}")
  Path data;

  @Option(names = "--method", paramLabel = "bat|bone|lora", converter = Converters.Method.class,
      defaultValue = "bat", description = "adapter kind (default: ${DEFAULT-VALUE})")
  AdapterMethod method;

  @Option(names = "--r", required = true, paramLabel = "N", description = "block size (bat, bone) or rank (lora)")
  int r;

  @Option(names = "--targets", split = ",", paramLabel = "q_proj,...",
      description = "target modules (default: all seven projections)")
  List<String> targets = AdapterConfig.builder().build().targetModuleNames();

  @Option(names = "--lora-alpha", paramLabel = "X", description = "LoRA alpha (default: r)")
  Double loraAlpha;

  @Option(names = "--mini-r", defaultValue = "1", paramLabel = "M",
      description = "mini: B_mini's width, repeated along the outputs; it must divide every target's out_features (default: ${DEFAULT-VALUE})")
  int miniR;

  @Option(names = "--optimizer", paramLabel = "adamw|sgd", converter = Converters.Optimizer.class,
      defaultValue = "adamw", description = "the optimizer of the adapter's weights (default: ${DEFAULT-VALUE})")
  OptimizerKind optimizer;

  @Option(names = "--lr", defaultValue = "1e-4", paramLabel = "X", description = "learning rate (default: ${DEFAULT-VALUE})")
  double lr;

  @Option(names = "--weight-decay", defaultValue = "0", paramLabel = "X",
      description = "AdamW's decoupled weight decay (default: ${DEFAULT-VALUE})")
  double weightDecay;

  @Option(names = "--beta1", defaultValue = "0.9", paramLabel = "X",
      description = "AdamW's first-moment decay (default: ${DEFAULT-VALUE})")
  double beta1;

  @Option(names = "--beta2", defaultValue = "0.999", paramLabel = "X",
      description = "AdamW's second-moment decay (default: ${DEFAULT-VALUE})")
  double beta2;

  @Option(names = "--eps", defaultValue = "1e-8", paramLabel = "X",
      description = "AdamW's epsilon (default: ${DEFAULT-VALUE})")
  double eps;

  @Option(names = "--max-grad-norm", defaultValue = "1.0", paramLabel = "X",
      description = "global gradient-norm clip, 0 = off (default: ${DEFAULT-VALUE})")
  double maxGradNorm;

  @Option(names = "--schedule", paramLabel = "constant|linear|cosine", converter = Converters.Schedule.class,
      defaultValue = "constant", description = "the learning rate over the steps, after the warmup (default: ${DEFAULT-VALUE})")
  ScheduleKind schedule;

  @Option(names = "--warmup-steps", defaultValue = "0", paramLabel = "N",
      description = "steps of a linear rise of the learning rate from 0 (default: ${DEFAULT-VALUE})")
  long warmupSteps;

  @CommandLine.ArgGroup(exclusive = true, multiplicity = "1")
  Length length;

  static final class Length {
    @Option(names = "--steps", required = true, paramLabel = "N", description = "optimizer steps")
    long steps;

    @Option(names = "--epochs", required = true, paramLabel = "N", description = "passes over the data")
    int epochs;
  }

  @Option(names = "--batch-size", defaultValue = "4", paramLabel = "N",
      description = "examples per micro-batch (default: ${DEFAULT-VALUE})")
  int batchSize;

  @Option(names = "--grad-accum", defaultValue = "1", paramLabel = "N",
      description = "micro-batches per step (default: ${DEFAULT-VALUE})")
  int gradAccum;

  @Option(names = "--max-seq-len", defaultValue = "512", paramLabel = "N",
      description = "tokens per example; a longer one keeps its last ones, and BOS (default: ${DEFAULT-VALUE})")
  int maxSeqLen;

  @Option(names = "--seed", defaultValue = "42", paramLabel = "N",
      description = "the adapter's initialization and the shuffle (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--shuffle", defaultValue = "true", arity = "1", paramLabel = "true|false",
      description = "shuffle each epoch; false = file order (default: ${DEFAULT-VALUE})")
  boolean shuffle;

  @Option(names = "--resume", paramLabel = "DIR", description = "continue from an earlier --out folder")
  Path resume;

  @Option(names = "--eval-data", paramLabel = "FILE.jsonl",
      description = "held-out records: their loss is reported before and after training")
  Path evalData;

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
      description = "compute threads; 0 = auto: 1 below hidden size 512, else one per core")
  int threads;

  @CommandLine.Mixin
  RecordReadingOptions reading;

  @CommandLine.Mixin
  BackendOptions backend;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "output folder")
  Path out;

  @Override
  public Integer call() {
    PrintWriter o = spec.commandLine().getOut();
    OutputFolder.requireOutside(out, model, "--model");
    Threads.configure(Threads.auto(threads, ModelConfig.read(model).hiddenSize()));
    AdapterConfig.Builder adapter = AdapterConfig.builder().method(method).r(r).targetModules(targets);
    adapter.miniR(miniR);
    if (loraAlpha != null) {
      adapter.loraAlpha(loraAlpha);
    }
    TrainConfig train = TrainConfig.builder().optimizer(optimizer).lr(lr).weightDecay(weightDecay)
        .beta1(beta1).beta2(beta2).eps(eps).maxGradNorm(maxGradNorm).schedule(schedule)
        .warmupSteps(warmupSteps).totalSteps(Math.max(1, length.steps)).batchSize(batchSize)
        .gradAccum(gradAccum).maxSeqLen(maxSeqLen).seed(seed).build();
    TrainingRun.Options options = new TrainingRun.Options(model, data, adapter.build(), train,
        length.steps, length.epochs, shuffle, out, resume, evalData, backend.spec(),
        reading.options());
    TrainingRun.Summary s = TrainingRun.run(options, new ProgressPrinter(o));
    o.printf(Locale.ROOT, "done: %d steps (%d skipped), loss %.4f -> %.4f, %.0f tokens/s; adapter in %s%n",
        s.steps(), s.skippedSteps(), s.firstLoss(), s.lastLoss(), s.tokensPerSecond(), s.out());
    return 0;
  }

  /** One line per step, at most about one per second after the first ten, and always the last. */
  static final class ProgressPrinter implements TrainingRun.Listener {
    private final PrintWriter out;
    private long lastPrint;

    ProgressPrinter(PrintWriter out) {
      this.out = out;
    }

    @Override
    public void info(String message) {
      out.println(message);
    }

    @Override
    public void step(StepResult r, long total) {
      long now = System.nanoTime();
      boolean last = r.step() + 1 == total;
      if (r.step() < 10 || last || r.skipped() || now - lastPrint > 1_000_000_000L) {
        out.printf(Locale.ROOT, "step %d/%d  loss %.4f  lr %.3g  grad-norm %.3g  %.0f tokens/s%s%n",
            r.step() + 1, total, r.loss(), r.lr(), r.gradNorm(), r.tokens() / r.seconds(),
            r.skipped() ? "  SKIPPED (non-finite loss or gradient)" : "");
        lastPrint = now;
      }
    }
  }
}
