package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.util.Threads;
import io.bonestream.job.compare.LearningComparison;
import io.bonestream.job.demo.DemoTask;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Learning efficiency: bat, bone and LoRA on one of the demo's tasks, the same examples in the",
        "same order, the same steps and trainable-parameter budget (LoRA at the rank nearest to bone's",
        "count at --r), over a grid of learning rates; held-out loss every --eval-every steps. Writes",
        "curves.csv and eval_loss.png to --out and prints a summary table."})
final class CompareCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", paramLabel = "DIR", description = "default: the bundled stories260K")
  Path model;

  @Option(names = "--task", defaultValue = "colors", description = "colors, sounds, opposites, counting (default: ${DEFAULT-VALUE})")
  String task;

  @Option(names = "--methods", split = ",", defaultValue = "bat,bone,lora", converter = Converters.Method.class)
  List<AdapterMethod> methods;

  @Option(names = "--lrs", split = ",", defaultValue = "3e-3,1e-2,3e-2", description = "(default: ${DEFAULT-VALUE})")
  List<Double> lrs;

  @Option(names = "--r", defaultValue = "4", description = "bat/bone width; sets the parameter budget (default: ${DEFAULT-VALUE})")
  int r;

  @Option(names = "--steps", defaultValue = "150")
  int steps;

  @Option(names = "--eval-every", defaultValue = "10")
  int evalEvery;

  @Option(names = "--batch-size", defaultValue = "8")
  int batch;

  @Option(names = "--train-examples", defaultValue = "256")
  int trainExamples;

  @Option(names = "--seed", defaultValue = "42")
  long seed;

  @Option(names = "--threads", defaultValue = "0")
  int threads;

  @Option(names = "--out", required = true, paramLabel = "DIR")
  Path out;

  @Override
  public Integer call() throws Exception {
    DemoTask t = java.util.Arrays.stream(DemoTask.values()).filter(d -> d.id().equals(task)).findFirst()
        .orElseThrow(() -> new BonestreamException("unknown task '" + task + "' (known: colors, sounds, opposites, counting)"));
    if (steps <= 0 || evalEvery <= 0 || batch <= 0 || trainExamples <= 0 || r <= 0 || lrs.isEmpty()) {
      throw new BonestreamException("--steps, --eval-every, --batch-size, --train-examples, --r must be positive");
    }
    Path dir = model != null ? model : Path.of(System.getProperty("bonestream.home", "."), "models", "stories260K");
    BaseModel base = BaseModel.load(dir);
    Threads.configure(Threads.auto(threads, base.config().hiddenSize()));
    PrintWriter log = spec.commandLine().getOut();
    Files.createDirectories(out);
    List<LearningComparison.Run> runs;
    try (Tokenizer tokenizer = Tokenizer.load(dir, base.config())) {
      runs = LearningComparison.run(base, tokenizer, new LearningComparison.Plan(t, methods, lrs, r, steps, evalEvery,
          batch, trainExamples, seed), log);
    }
    LearningComparison.writeCsv(runs, out.resolve("curves.csv"));
    LearningComparison.writePlot(runs, base.name() + ", task " + t.id() + ": held-out loss, same data and budget",
        out.resolve("eval_loss.png"));
    log.println();
    log.println("| method | rank | parameters | lr | held-out loss at 0 | at " + steps / 3 + " | final | best |");
    log.println("|---|---|---|---|---|---|---|---|");
    for (LearningComparison.Run run : runs) {
      int third = 0;
      for (int i = 0; i < run.steps().size(); i++) {
        if (run.steps().get(i) <= steps / 3) {
          third = i;
        }
      }
      log.printf(Locale.ROOT, "| %s | %d | %d | %s | %.4f | %.4f | %.4f | %.4f |%n", run.method().id(), run.rank(),
          run.parameters(), Double.toString(run.lr()), run.evalLoss().get(0), run.evalLoss().get(third),
          run.finalEval(), run.bestEval());
    }
    log.println("wrote " + out.resolve("curves.csv") + " and " + out.resolve("eval_loss.png"));
    return 0;
  }
}
