package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.util.Threads;
import io.bonestream.engine.data.Example;
import io.bonestream.job.compare.ContinualComparison;
import io.bonestream.job.compare.LearningComparison;
import io.bonestream.operators.train.ContinualPolicy;
import io.bonestream.operators.train.DriftDetector;
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
    description = {"--scenario learning (default): learning efficiency: bat, bone and LoRA on one of the demo's",
        "tasks, the same examples in the same order, the same steps and trainable-parameter budget (LoRA at",
        "the rank nearest to bone's count at --r), over a grid of learning rates; held-out loss every",
        "--eval-every steps. Writes curves.csv and eval_loss.png to --out and prints a summary table.",
        "--scenario drift: a bone adapter trained on --task-a, then on --task-b (--steps each), without and",
        "with replay; both tasks' held-out loss, the anchor loss and the drift detector's events. Writes",
        "drift.csv and drift.png.",
        "--scenario harm: a bone adapter trained on --task-a, then on more of it (normal) or on a harmful",
        "stream (its prompts with shuffled answers at --harm-lr); the anchor loss of every version and",
        "whether the anchor guard holds it back. Writes harm.csv and harm.png."})
final class CompareCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--scenario", defaultValue = "learning", description = "learning, drift or harm (default: ${DEFAULT-VALUE})")
  String scenario;

  @Option(names = "--model", paramLabel = "DIR", description = "default: the bundled stories260K")
  Path model;

  @Option(names = "--task", defaultValue = "colors", description = "colors, sounds, opposites, counting (default: ${DEFAULT-VALUE})")
  String task;

  @Option(names = "--methods", split = ",", defaultValue = "bat,bone,lora", converter = Converters.Method.class,
      description = "learning: the methods compared (default: ${DEFAULT-VALUE})")
  List<AdapterMethod> methods;

  @Option(names = "--lrs", split = ",", defaultValue = "3e-3,1e-2,3e-2",
      description = "learning: the learning rates tried for each method (default: ${DEFAULT-VALUE})")
  List<Double> lrs;

  @Option(names = "--r", defaultValue = "4", description = "bat/bone width; sets the parameter budget (default: ${DEFAULT-VALUE})")
  int r;

  @Option(names = "--steps", description = "learning: steps (default 150); drift: steps per phase (default 150);"
      + " harm: steps of the first phase (default 100)")
  Integer steps;

  @Option(names = "--eval-every", defaultValue = "10",
      description = "steps between evaluations on the held-out prompts (default: ${DEFAULT-VALUE})")
  int evalEvery;

  @Option(names = "--batch-size", defaultValue = "8", description = "examples per step (default: ${DEFAULT-VALUE})")
  int batch;

  @Option(names = "--train-examples", defaultValue = "256",
      description = "training examples drawn from the task (default: ${DEFAULT-VALUE})")
  int trainExamples;

  @Option(names = "--seed", defaultValue = "42",
      description = "the examples drawn and the adapters' initialization (default: ${DEFAULT-VALUE})")
  long seed;

  @Option(names = "--threads", defaultValue = "0",
      description = "compute threads; 0 = auto (default: ${DEFAULT-VALUE})")
  int threads;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "the folder for the CSV and the plot")
  Path out;

  @Option(names = "--task-a", defaultValue = "colors", description = "drift, harm: the first task (default: ${DEFAULT-VALUE})")
  String taskA;

  @Option(names = "--task-b", defaultValue = "opposites", description = "drift: the second task (default: ${DEFAULT-VALUE})")
  String taskB;

  @Option(names = "--lr", description = "drift, harm: the learning rate (default: drift 1e-2, the demo's; harm 1e-4,"
      + " gentle enough to keep the anchor loss within the tolerance)")
  Double lr;

  @Option(names = "--replay-ratio", defaultValue = "0.25", description = "drift: replays per fresh example in the replay-on run (default: ${DEFAULT-VALUE})")
  double replayRatio;

  @Option(names = "--replay-capacity", defaultValue = "256", description = "drift: the reservoir's capacity in examples (default: ${DEFAULT-VALUE})")
  int replayCapacity;

  @Option(names = "--anchor", paramLabel = "FILE", description = "drift, harm: the anchor set, JSONL (default: examples/anchor-stories.jsonl)")
  Path anchor;

  @Option(names = "--anchor-tolerance", defaultValue = "0.10", description = "drift, harm: the anchor guard's relative tolerance over the base's anchor loss (default: ${DEFAULT-VALUE})")
  double anchorTolerance;

  @Option(names = "--harm-steps", description = "harm: steps of the second phase, normal or harmful (default: 50)")
  Integer harmSteps;

  @Option(names = "--harm-lr", defaultValue = "1e-2", description = "harm: the harmful stream's learning rate (default: ${DEFAULT-VALUE})")
  double harmLr;

  private static final List<String> LEARNING_ONLY = List.of("--task", "--methods", "--lrs", "--train-examples");
  private static final List<String> SCENARIO_ONLY = List.of("--task-a", "--task-b", "--lr", "--replay-ratio",
      "--replay-capacity", "--anchor", "--anchor-tolerance", "--harm-steps", "--harm-lr");

  private static DemoTask task(String id) {
    return java.util.Arrays.stream(DemoTask.values()).filter(d -> d.id().equals(id)).findFirst()
        .orElseThrow(() -> new BonestreamException("unknown task '" + id + "' (known: colors, sounds, opposites, counting)"));
  }

  @Override
  public Integer call() throws Exception {
    if (!List.of("learning", "drift", "harm").contains(scenario)) {
      throw new BonestreamException("unknown scenario '" + scenario + "' (known: learning, drift, harm)");
    }
    CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    for (String o : scenario.equals("learning") ? SCENARIO_ONLY : LEARNING_ONLY) {
      if (parsed.hasMatchedOption(o)) {
        throw new BonestreamException(o + " does not apply to --scenario " + scenario);
      }
    }
    if (parsed.hasMatchedOption("--task-b") && scenario.equals("harm")) {
      throw new BonestreamException("--task-b does not apply to --scenario harm");
    }
    if (!scenario.equals("harm") && (parsed.hasMatchedOption("--harm-steps") || parsed.hasMatchedOption("--harm-lr"))) {
      throw new BonestreamException("--harm-steps and --harm-lr apply to --scenario harm only");
    }
    if (!scenario.equals("drift") && (parsed.hasMatchedOption("--replay-ratio")
        || parsed.hasMatchedOption("--replay-capacity"))) {
      throw new BonestreamException("--replay-ratio and --replay-capacity apply to --scenario drift only");
    }
    if (!scenario.equals("learning")) {
      return continual();
    }
    int steps = this.steps == null ? 150 : this.steps;
    DemoTask t = task(task);
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

  private int continual() throws Exception {
    int steps = this.steps != null ? this.steps : scenario.equals("drift") ? 150 : 100;
    DemoTask a = task(taskA);
    DriftDetector.Settings drift = DriftDetector.Settings.DEFAULT;
    ContinualComparison.DriftPlan driftPlan = null;
    ContinualComparison.HarmPlan harmPlan = null;
    if (scenario.equals("drift")) {
      driftPlan = new ContinualComparison.DriftPlan(a, task(taskB), r, lr == null ? 1e-2 : lr, steps, evalEvery, batch, replayRatio,
          replayCapacity, anchorTolerance, seed, drift);
    } else {
      harmPlan = new ContinualComparison.HarmPlan(a, r, lr == null ? 1e-4 : lr, steps, harmSteps == null ? 50 : harmSteps, harmLr,
          evalEvery, batch, anchorTolerance, seed, drift);
    }
    Path home = Path.of(System.getProperty("bonestream.home", "."));
    Path dir = model != null ? model : home.resolve("models").resolve("stories260K");
    Path anchorFile = anchor != null ? anchor : home.resolve("examples").resolve("anchor-stories.jsonl");
    BaseModel base = BaseModel.load(dir);
    Threads.configure(Threads.auto(threads, base.config().hiddenSize()));
    PrintWriter log = spec.commandLine().getOut();
    Files.createDirectories(out);
    ContinualComparison.Result result;
    try (Tokenizer tokenizer = Tokenizer.load(dir, base.config())) {
      List<Example> anchorSet = ContinualComparison.readAnchor(anchorFile,
          ContinualComparison.encoder(base, tokenizer));
      log.printf(Locale.ROOT, "anchor set: %d records from %s%n", anchorSet.size(), anchorFile.getFileName());
      result = driftPlan != null ? ContinualComparison.drift(base, tokenizer, anchorSet, driftPlan, log)
          : ContinualComparison.harm(base, tokenizer, anchorSet, harmPlan, log);
    }
    Path csv = out.resolve(scenario + ".csv");
    Path png = out.resolve(scenario + ".png");
    ContinualComparison.writeCsv(result, csv);
    String title = driftPlan != null
        ? String.format(Locale.ROOT, "%s, bone r=%d: %s then %s, replay off vs on (ratio %s)", base.name(), r,
            a.id(), taskB, Double.toString(replayRatio))
        : String.format(Locale.ROOT, "%s, bone r=%d: %s, then more %s (normal) or a harmful stream (harmful)",
            base.name(), r, a.id(), a.id());
    ContinualComparison.writePlot(result, title, png);
    log.println();
    log.print(ContinualComparison.summary(result, new ContinualPolicy.Replay(replayRatio, replayCapacity,
        Long.MAX_VALUE)));
    log.println("wrote " + csv + " and " + png);
    return 0;
  }
}
