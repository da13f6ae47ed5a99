package io.bonestream.job.compare;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.JsonlDataset;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.job.demo.DemoTask;
import io.bonestream.operators.train.ContinualPolicy;
import io.bonestream.operators.train.DriftDetector;
import io.bonestream.operators.train.ReplayReservoir;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.geom.Ellipse2D;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The continual-learning scenarios of {@code bonestream compare} (issue 22): engine-level runs of
 * one bone adapter, no Flink, that show what the continual guards do.
 *
 * <ul>
 *   <li>{@code drift}: task A for a phase, then task B for a phase, once without and once with
 *       replay ({@link ReplayReservoir}, {@link ContinualPolicy.Replay#replaysFor}); the held-out loss
 *       of both tasks and the anchor loss every few steps, and the {@link DriftDetector}'s events on
 *       each batch's pre-step loss over its fresh examples.
 *   <li>{@code harm}: task A for a phase, then either more of task A ({@code normal}) or a harmful
 *       stream ({@code harmful}: task A's prompts with the batch's answers shuffled, at a much higher
 *       learning rate); at every version the anchor loss and whether the anchor guard
 *       ({@link ContinualPolicy.Anchor#holdsBack}) holds the version back.
 * </ul>
 *
 * Both scenarios evaluate and decide the same things at every evaluated step, so the CSV has the same
 * columns for both ({@link #CSV_HEADER}).
 */
public final class ContinualComparison {
  /** The CSV's columns. */
  public static final String CSV_HEADER =
      "scenario,run,phase,step,train_loss,eval_loss_a,eval_loss_b,anchor_loss,base_anchor_loss,drift,held_back";

  /** How far the fresh (identity) adapter's anchor loss may be from the base model's own. */
  static final double IDENTITY_TOLERANCE = 1e-4;

  private static final int MAX_SEQ_LEN = 128;

  /** What the drift scenario runs. */
  public record DriftPlan(DemoTask taskA, DemoTask taskB, int r, double lr, int stepsPerPhase, int evalEvery,
      int batch, double replayRatio, int replayCapacity, double tolerance, long seed, DriftDetector.Settings drift) {
    public DriftPlan {
      new ContinualPolicy.Anchor("", List.of(), 1, 0, tolerance, true); // its own checks
      check(stepsPerPhase, evalEvery, batch, r);
      if (taskA == taskB) {
        throw new BonestreamException("--task-a and --task-b must differ, both are " + taskA.id());
      }
      new ContinualPolicy.Replay(replayRatio, Math.max(1, replayCapacity), 1); // its own checks
      if (replayCapacity < 1) {
        throw new BonestreamException("--replay-capacity must be ≥ 1, got " + replayCapacity);
      }
      if (!(lr > 0)) {
        throw new BonestreamException("--lr must be positive, got " + lr);
      }
    }
  }

  /** What the harm scenario runs. */
  public record HarmPlan(DemoTask task, int r, double lr, int steps, int harmSteps, double harmLr, int evalEvery,
      int batch, double tolerance, long seed, DriftDetector.Settings drift) {
    public HarmPlan {
      check(steps, evalEvery, batch, r);
      if (harmSteps <= 0) {
        throw new BonestreamException("--harm-steps must be positive, got " + harmSteps);
      }
      if (!(lr > 0) || !(harmLr > 0)) {
        throw new BonestreamException("--lr and --harm-lr must be positive");
      }
      new ContinualPolicy.Anchor("", List.of(), 1, 0, tolerance, true); // its own checks
    }
  }

  private static void check(int steps, int evalEvery, int batch, int r) {
    if (steps <= 0 || evalEvery <= 0 || batch <= 0 || r <= 0) {
      throw new BonestreamException("--steps, --eval-every, --batch-size and --r must be positive");
    }
  }

  /** One evaluated step of a run (after {@code step} optimizer steps); NaN where not measured. */
  public record Row(String scenario, String run, String phase, int step, double trainLoss, double evalA,
      double evalB, double anchor, double baseAnchor, boolean drift, boolean heldBack) {}

  /**
   * One run: its rows, the steps whose batch made a drift event, how many replayed examples it
   * trained on, and its reservoir at the end (size, examples offered).
   */
  public record Run(String scenario, String name, List<Row> rows, List<Integer> driftSteps, long replaysTrained,
      int reservoirSize, long reservoirOffered, int maxReservoirSize, long parameters) {
    public Row at(int step) {
      return rows.stream().filter(r -> r.step() == step).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("no row at step " + step));
    }

    public Row last() {
      return rows.get(rows.size() - 1);
    }

    public double bestAnchor() {
      return rows.stream().mapToDouble(Row::anchor).min().orElse(Double.NaN);
    }
  }

  /** What a scenario produced. */
  public record Result(String scenario, List<Run> runs, int switchStep, double baseAnchor, double tolerance) {}

  /** A source of training batches: a phase's prompts and answers. */
  private interface Source {
    List<DemoTask.Pair> next(Rng rng, int batch);
  }

  private record Phase(String name, int steps, double lr, Source source) {}

  private ContinualComparison() {}

  /** The anchor set: a JSONL file of general records in any training format. */
  public static List<Example> readAnchor(Path file, ExampleEncoder enc) {
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("anchor file not found: " + file);
    }
    return JsonlDataset.read(file, new RecordParser(enc));
  }

  public static ExampleEncoder encoder(BaseModel base, Tokenizer tokenizer) {
    return new ExampleEncoder(tokenizer, MAX_SEQ_LEN, base.config().vocabSize());
  }

  /** The base model's own mean loss on the anchor set (no adapter at all). */
  public static double baseLoss(BaseModel base, List<Example> examples, int batch) {
    return Trainer.evaluate(new Transformer(base, null), examples, batch);
  }

  public static Result drift(BaseModel base, Tokenizer tokenizer, List<Example> anchor, DriftPlan p,
      PrintWriter log) {
    ExampleEncoder enc = encoder(base, tokenizer);
    double baseAnchor = baseLoss(base, anchor, p.batch());
    List<Example> heldA = encode(enc, p.taskA().heldOut());
    List<Example> heldB = encode(enc, p.taskB().heldOut());
    List<Phase> phases = List.of(
        new Phase("A", p.stepsPerPhase(), p.lr(), task(p.taskA())),
        new Phase("B", p.stepsPerPhase(), p.lr(), task(p.taskB())));
    ContinualPolicy.Anchor guard = new ContinualPolicy.Anchor("", List.of(), 1, 0, p.tolerance(), true);
    List<Run> runs = new ArrayList<>();
    for (boolean replay : new boolean[] {false, true}) {
      ContinualPolicy.Replay policy = replay
          ? new ContinualPolicy.Replay(p.replayRatio(), p.replayCapacity(), Long.MAX_VALUE)
          : ContinualPolicy.Replay.OFF;
      runs.add(run("drift", replay ? "replay-on" : "replay-off", base, enc, phases, p.r(), p.evalEvery(), p.batch(),
          p.seed(), policy, p.replayCapacity(), p.drift(), heldA, heldB, anchor, baseAnchor, guard, log));
    }
    return new Result("drift", runs, p.stepsPerPhase(), baseAnchor, guard.tolerance());
  }

  public static Result harm(BaseModel base, Tokenizer tokenizer, List<Example> anchor, HarmPlan p,
      PrintWriter log) {
    ExampleEncoder enc = encoder(base, tokenizer);
    double baseAnchor = baseLoss(base, anchor, p.batch());
    List<Example> heldA = encode(enc, p.task().heldOut());
    ContinualPolicy.Anchor guard = new ContinualPolicy.Anchor("", List.of(), 1, 0, p.tolerance(), true);
    Phase first = new Phase("A", p.steps(), p.lr(), task(p.task()));
    List<Run> runs = new ArrayList<>();
    runs.add(run("harm", "normal", base, enc, List.of(first, new Phase("A", p.harmSteps(), p.lr(), task(p.task()))),
        p.r(), p.evalEvery(), p.batch(), p.seed(), ContinualPolicy.Replay.OFF, 1, p.drift(), heldA, null, anchor,
        baseAnchor, guard, log));
    runs.add(run("harm", "harmful", base, enc, List.of(first, new Phase("harm", p.harmSteps(), p.harmLr(),
        shuffled(p.task()))), p.r(), p.evalEvery(), p.batch(), p.seed(), ContinualPolicy.Replay.OFF, 1, p.drift(),
        heldA, null, anchor, baseAnchor, guard, log));
    return new Result("harm", runs, p.steps(), baseAnchor, p.tolerance());
  }

  private static Source task(DemoTask t) {
    return (rng, n) -> {
      List<DemoTask.Pair> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        out.add(t.trainExample(rng));
      }
      return out;
    };
  }

  /** Task {@code t}'s prompts, each with the answer of the batch's next example (a rotation). */
  private static Source shuffled(DemoTask t) {
    Source plain = task(t);
    return (rng, n) -> {
      List<DemoTask.Pair> b = plain.next(rng, n);
      List<DemoTask.Pair> out = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        out.add(new DemoTask.Pair(b.get(i).prompt(), b.get((i + 1) % n).response()));
      }
      return out;
    };
  }

  private static List<Example> encode(ExampleEncoder enc, List<DemoTask.Pair> pairs) {
    List<Example> out = new ArrayList<>(pairs.size());
    for (DemoTask.Pair p : pairs) {
      out.add(enc.promptResponse(null, p.prompt(), p.response()));
    }
    return out;
  }

  private static TrainConfig config(double lr, int batch, long seed) {
    return TrainConfig.builder().optimizer(OptimizerKind.ADAMW).lr(lr).batchSize(batch).seed(seed).build();
  }

  /**
   * One run over its phases: before each step, its fresh batch's loss goes to the drift detector;
   * the step trains on the fresh batch and its replays; the fresh examples are then offered to the
   * reservoir. Every {@code evalEvery} steps, at each phase's end and at each drift event: a row.
   */
  private static Run run(String scenario, String name, BaseModel base, ExampleEncoder enc, List<Phase> phases, int r,
      int evalEvery, int batch, long seed, ContinualPolicy.Replay replay, int capacity, DriftDetector.Settings drift,
      List<Example> heldA, List<Example> heldB, List<Example> anchor, double baseAnchor,
      ContinualPolicy.Anchor guard, PrintWriter log) {
    AdapterConfig ac = AdapterConfig.builder().method(AdapterMethod.BONE).r(r).build();
    ReplayReservoir reservoir = new ReplayReservoir(capacity, Long.MAX_VALUE, seed);
    Rng rng = new Rng(seed); // the same stream of examples in every run of a scenario
    DriftDetector.State state = DriftDetector.State.EMPTY;
    List<Row> rows = new ArrayList<>();
    List<Integer> driftSteps = new ArrayList<>();
    long replays = 0;
    int maxReservoir = 0;
    int total = phases.stream().mapToInt(Phase::steps).sum();
    long started = System.nanoTime();
    Trainer t = Trainer.create(base, ac, config(phases.get(0).lr(), batch, seed));
    long parameters = t.backend().parameterCount();
    try {
      double lastTrain = Double.NaN;
      int step = 0;
      for (int pi = 0; pi < phases.size(); pi++) {
        Phase phase = phases.get(pi);
        if (phase.lr() != t.config().lr()) { // same adapter and optimizer state, another learning rate
          Trainer next = Trainer.restore(base, t.state(), t.config().toBuilder().lr(phase.lr()).build());
          t.close();
          t = next;
        }
        for (int k = 0; k < phase.steps(); k++, step++) {
          List<Example> fresh = encode(enc, phase.source().next(rng, batch));
          DriftDetector.Verdict v = DriftDetector.observe(state, t.evaluate(fresh), drift);
          state = v.state();
          if (v.drift()) {
            driftSteps.add(step);
          }
          if (!rows.isEmpty() && rows.get(rows.size() - 1).step() == step) { // the previous phase's end
            if (v.drift()) {
              Row r0 = rows.remove(rows.size() - 1);
              rows.add(new Row(r0.scenario(), r0.run(), r0.phase(), r0.step(), r0.trainLoss(), r0.evalA(),
                  r0.evalB(), r0.anchor(), r0.baseAnchor(), true, r0.heldBack()));
            }
          } else if (step % evalEvery == 0 || v.drift()) {
            rows.add(row(scenario, name, phaseBefore(phases, step), step, lastTrain, t, heldA, heldB, anchor,
                baseAnchor, v.drift(), guard));
          }
          List<Example> examples = new ArrayList<>(fresh);
          for (ReplayReservoir.Entry e : reservoir.replays(replay.replaysFor(fresh.size()), step)) {
            examples.add(new Example(e.inputIds(), e.labels(), e.weight()));
            replays++;
          }
          lastTrain = t.step(examples).loss();
          if (replay.enabled()) {
            for (int j = 0; j < fresh.size(); j++) {
              Example e = fresh.get(j);
              reservoir.offer(new ReplayReservoir.Entry(phase.name() + "-" + step + "-" + j, "", e.inputIds(),
                  e.labels(), e.weight()));
            }
            maxReservoir = Math.max(maxReservoir, reservoir.size());
          }
        }
        // each phase's end is a row (its last version); never one already made, as steps only grow
        rows.add(row(scenario, name, phase.name(), step, lastTrain, t, heldA, heldB, anchor, baseAnchor, false,
            guard));
      }
    } finally {
      t.close();
    }
    Row first = rows.get(0);
    if (Math.abs(first.anchor() - baseAnchor) > IDENTITY_TOLERANCE * Math.max(1, baseAnchor)) {
      throw new IllegalStateException(String.format(Locale.ROOT,
          "the fresh adapter is not the identity: anchor loss %.6f at step 0, the base model's %.6f", first.anchor(),
          baseAnchor));
    }
    Run run = new Run(scenario, name, rows, driftSteps, replays, reservoir.size(), reservoir.offered(), maxReservoir,
        parameters);
    if (log != null) {
      log.printf(Locale.ROOT, "%s %s: %d steps in %.1f s, anchor loss %.4f -> %.4f, drift events at %s%s%n", scenario,
          name, total, (System.nanoTime() - started) / 1e9, first.anchor(), run.last().anchor(), driftSteps,
          replay.enabled() ? ", " + replays + " replays trained, reservoir " + reservoir.size() + "/" + capacity : "");
      log.flush();
    }
    return run;
  }

  /** The phase of the last of {@code step} optimizer steps (the first phase at 0). */
  private static String phaseBefore(List<Phase> phases, int step) {
    int end = 0;
    for (Phase p : phases) {
      end += p.steps();
      if (step <= end) {
        return p.name();
      }
    }
    return phases.get(phases.size() - 1).name();
  }

  private static Row row(String scenario, String name, String phase, int step, double trainLoss, Trainer t,
      List<Example> heldA, List<Example> heldB, List<Example> anchor, double baseAnchor, boolean drift,
      ContinualPolicy.Anchor guard) {
    double a = t.evaluate(heldA);
    double b = heldB == null ? Double.NaN : t.evaluate(heldB);
    double an = t.evaluate(anchor);
    return new Row(scenario, name, phase, step, trainLoss, a, b, an, baseAnchor, drift, guard.holdsBack(an, baseAnchor));
  }

  /** {@link #CSV_HEADER}, one row per evaluated step of each run; empty where not measured. */
  public static void writeCsv(Result result, Path file) throws IOException {
    StringBuilder b = new StringBuilder(CSV_HEADER).append('\n');
    for (Run run : result.runs()) {
      for (Row r : run.rows()) {
        b.append(String.join(",", r.scenario(), r.run(), r.phase(), Integer.toString(r.step()), num(r.trainLoss()),
            num(r.evalA()), num(r.evalB()), num(r.anchor()), num(r.baseAnchor()), r.drift() ? "1" : "0",
            r.heldBack() ? "1" : "0")).append('\n');
      }
    }
    Files.writeString(file, b.toString(), StandardCharsets.UTF_8);
  }

  private static String num(double v) {
    return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6f", v);
  }

  private static final Color BLUE = new Color(0x1F, 0x77, 0xB4);
  private static final Color ORANGE = new Color(0xFF, 0x7F, 0x0E);
  private static final Color GRAY = new Color(0x55, 0x55, 0x55);
  private static final Color RED = new Color(0xD6, 0x27, 0x28);
  private static final Color GREEN = new Color(0x2C, 0xA0, 0x2C);
  private static final float[] DASH = {8f, 4f};

  private static BasicStroke stroke(boolean dashed) {
    return dashed ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, DASH, 0f)
        : new BasicStroke(2f);
  }

  /**
   * drift: A's and B's held-out loss and the anchor loss of both runs (solid: replay off, dashed:
   * replay on), the task switch and the drift events marked. harm: the anchor loss of every version
   * of both runs, the held-back versions circled, the guard's threshold as a line.
   */
  public static void writePlot(Result result, String title, Path file) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYSeriesCollection data = new XYSeriesCollection();
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
    String yLabel;
    if (result.scenario().equals("drift")) {
      yLabel = "loss (mean over target tokens)";
      for (Run run : result.runs()) {
        boolean dashed = run.name().equals("replay-on");
        String suffix = run.name().equals("replay-on") ? " (replay on)" : " (replay off)";
        add(data, renderer, "task A held-out" + suffix, run, Row::evalA, BLUE, stroke(dashed));
        add(data, renderer, "task B held-out" + suffix, run, Row::evalB, ORANGE, stroke(dashed));
        add(data, renderer, "anchor" + suffix, run, Row::anchor, GRAY, stroke(dashed));
      }
    } else {
      yLabel = "anchor loss (mean over the anchor set's target tokens)";
      for (Run run : result.runs()) {
        add(data, renderer, "anchor loss, " + run.name() + " run", run, Row::anchor,
            run.name().equals("harmful") ? RED : GREEN, stroke(false));
        renderer.setSeriesShapesVisible(data.getSeriesCount() - 1, true);
      }
      XYSeries held = new XYSeries("held back by the anchor guard");
      for (Run run : result.runs()) {
        for (Row r : run.rows()) {
          if (r.heldBack()) {
            held.add(r.step(), r.anchor());
          }
        }
      }
      data.addSeries(held);
      int i = data.getSeriesCount() - 1;
      renderer.setSeriesLinesVisible(i, false);
      renderer.setSeriesShapesVisible(i, true);
      renderer.setSeriesShape(i, new Ellipse2D.Double(-7, -7, 14, 14));
      renderer.setSeriesPaint(i, Color.BLACK);
      renderer.setSeriesShapesFilled(i, false);
      renderer.setSeriesOutlineStroke(i, new BasicStroke(2f));
      renderer.setUseOutlinePaint(false);
    }
    JFreeChart chart = ChartFactory.createXYLineChart(title, "step", yLabel, data, PlotOrientation.VERTICAL, true,
        false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    plot.setRenderer(renderer);
    Font font = new Font(Font.SANS_SERIF, Font.PLAIN, 13);
    ValueMarker sw = new ValueMarker(result.switchStep(), Color.BLACK, new BasicStroke(1.5f));
    sw.setLabel(result.scenario().equals("drift") ? "switch to task B" : "harmful stream starts (harmful run)");
    sw.setLabelFont(font);
    sw.setLabelAnchor(RectangleAnchor.TOP_RIGHT);
    sw.setLabelTextAnchor(TextAnchor.TOP_LEFT);
    plot.addDomainMarker(sw);
    ValueMarker base = new ValueMarker(result.baseAnchor(), GRAY, new BasicStroke(1f));
    base.setLabel(String.format(Locale.ROOT, "base model's anchor loss %.3f", result.baseAnchor()));
    base.setLabelFont(font);
    base.setLabelAnchor(RectangleAnchor.BOTTOM_RIGHT);
    base.setLabelTextAnchor(TextAnchor.TOP_RIGHT);
    if (result.scenario().equals("harm")) {
      double threshold = result.baseAnchor() * (1 + result.tolerance());
      ValueMarker th = new ValueMarker(threshold, RED, new BasicStroke(1.5f, BasicStroke.CAP_BUTT,
          BasicStroke.JOIN_MITER, 10f, DASH, 0f));
      th.setLabel(String.format(Locale.ROOT, "guard threshold: base × (1 + %.2f) = %.3f", result.tolerance(),
          threshold));
      th.setLabelFont(font);
      th.setLabelPaint(RED);
      th.setLabelAnchor(RectangleAnchor.TOP_RIGHT);
      th.setLabelTextAnchor(TextAnchor.BOTTOM_RIGHT);
      plot.addRangeMarker(th);
      plot.addRangeMarker(base);
    } else {
      plot.addRangeMarker(base);
      for (Run run : result.runs()) {
        for (int s : run.driftSteps()) {
          ValueMarker m = new ValueMarker(s, run.name().equals("replay-on") ? new Color(0x94, 0x67, 0xBD) : RED,
              new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {2f, 3f}, 0f));
          m.setLabel("drift event (" + run.name() + ")");
          m.setLabelFont(font);
          m.setLabelAnchor(run.name().equals("replay-on") ? RectangleAnchor.CENTER : RectangleAnchor.TOP_RIGHT);
          m.setLabelTextAnchor(run.name().equals("replay-on") ? TextAnchor.CENTER_LEFT : TextAnchor.TOP_LEFT);
          m.setLabelOffset(new org.jfree.chart.ui.RectangleInsets(20, 2, 2, 2));
          plot.addDomainMarker(m);
        }
      }
    }
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 1100, 700);
  }

  private static void add(XYSeriesCollection data, XYLineAndShapeRenderer renderer, String label, Run run,
      java.util.function.ToDoubleFunction<Row> value, Color color, BasicStroke stroke) {
    XYSeries s = new XYSeries(label);
    for (Row r : run.rows()) {
      s.add(r.step(), value.applyAsDouble(r));
    }
    data.addSeries(s);
    int i = data.getSeriesCount() - 1;
    renderer.setSeriesPaint(i, color);
    renderer.setSeriesStroke(i, stroke);
  }

  /** The summary as Markdown tables. */
  public static String summary(Result result, ContinualPolicy.Replay replay) {
    StringBuilder b = new StringBuilder();
    int sw = result.switchStep();
    if (result.scenario().equals("drift")) {
      b.append("| run | A held-out at 0 | A at end of A (step ").append(sw).append(") | A at end of B | B at 0")
          .append(" | B at end of A | B final | anchor base | anchor best | anchor last | drift events at steps")
          .append(" | replays trained | reservoir |\n");
      b.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
      for (Run run : result.runs()) {
        Row first = run.rows().get(0);
        Row endA = run.at(sw);
        Row last = run.last();
        b.append(String.format(Locale.ROOT,
            "| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %s | %d | %s |%n", run.name(),
            first.evalA(), endA.evalA(), last.evalA(), first.evalB(), endA.evalB(), last.evalB(), result.baseAnchor(),
            run.bestAnchor(), last.anchor(), run.driftSteps().isEmpty() ? "none" : run.driftSteps().stream()
                .map(String::valueOf).collect(Collectors.joining(", ")), run.replaysTrained(),
            run.name().equals("replay-on") ? run.reservoirSize() + " of " + run.reservoirOffered() + " offered"
                + " (capacity " + replay.capacity() + ")" : "-"));
      }
    } else {
      double threshold = result.baseAnchor() * (1 + result.tolerance());
      b.append(String.format(Locale.ROOT, "base anchor loss %.4f, guard threshold %.4f (tolerance %.2f)%n%n",
          result.baseAnchor(), threshold, result.tolerance()));
      b.append("| run | step | phase | anchor loss | vs base | A held-out | held back |\n");
      b.append("|---|---|---|---|---|---|---|\n");
      for (Run run : result.runs()) {
        for (Row r : run.rows()) {
          b.append(String.format(Locale.ROOT, "| %s | %d | %s | %.4f | %+.1f%% | %.4f | %s |%n", run.name(),
              r.step(), r.phase(), r.anchor(), 100 * (r.anchor() / result.baseAnchor() - 1), r.evalA(),
              r.heldBack() ? "**held back**" : "passes"));
        }
      }
      b.append('\n');
      for (Run run : result.runs()) {
        List<Integer> held = run.rows().stream().filter(Row::heldBack).map(Row::step).toList();
        b.append(String.format(Locale.ROOT, "%s run: %d of %d versions held back%s; drift events at %s%n",
            run.name(), held.size(), run.rows().size(), held.isEmpty() ? "" : " (steps " + held.stream()
                .map(String::valueOf).collect(Collectors.joining(", ")) + ")",
            run.driftSteps().isEmpty() ? "none" : run.driftSteps().toString()));
      }
    }
    return b.toString();
  }
}
