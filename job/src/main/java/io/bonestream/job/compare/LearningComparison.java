package io.bonestream.job.compare;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.job.demo.DemoTask;
import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The learning-efficiency comparison of {@code bonestream compare}: bat, bone and LoRA trained on
 * the same examples in the same order for the same steps, with the same trainable-parameter budget
 * (bat and bone at width r; LoRA at the rank whose parameter count is nearest), over a grid of
 * learning rates; the held-out loss every few steps, written as a CSV and drawn as a PNG.
 */
public final class LearningComparison {
  /** What to compare. */
  public record Plan(DemoTask task, List<AdapterMethod> methods, List<Double> lrs, int r, int steps, int evalEvery,
      int batch, int trainExamples, long seed) {}

  /** One run: a method at a learning rate, its held-out loss at each evaluated step. */
  public record Run(AdapterMethod method, int rank, long parameters, double lr, List<Integer> steps, List<Double> evalLoss, List<Double> trainLoss) {
    public double finalEval() {
      return evalLoss.get(evalLoss.size() - 1);
    }

    public double bestEval() {
      return evalLoss.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
    }
  }

  private LearningComparison() {}

  /** The LoRA rank whose parameter count is nearest to {@code budget} (ties: the smaller). */
  public static int loraRankFor(ModelConfig c, long budget) {
    int best = 1;
    long bestDiff = Long.MAX_VALUE;
    for (int r = 1; r <= 256; r++) {
      long n;
      try {
        n = AdapterLayout.of(c, AdapterConfig.builder().method(AdapterMethod.LORA).r(r).build()).size();
      } catch (io.bonestream.core.BonestreamException e) {
        break; // r above a projection's smaller dimension
      }
      long diff = Math.abs(n - budget);
      if (diff < bestDiff) {
        best = r;
        bestDiff = diff;
      }
    }
    return best;
  }

  public static List<Run> run(BaseModel base, Tokenizer tokenizer, Plan plan, java.io.PrintWriter log) {
    ExampleEncoder enc = new ExampleEncoder(tokenizer, 128, base.config().vocabSize());
    Rng rng = new Rng(plan.seed());
    List<Example> train = new ArrayList<>();
    for (int i = 0; i < plan.trainExamples(); i++) {
      DemoTask.Pair p = plan.task().trainExample(rng);
      train.add(enc.promptResponse(null, p.prompt(), p.response()));
    }
    List<Example> heldOut = new ArrayList<>();
    for (DemoTask.Pair p : plan.task().heldOut()) {
      heldOut.add(enc.promptResponse(null, p.prompt(), p.response()));
    }
    long budget = AdapterLayout.of(base.config(), AdapterConfig.builder().method(AdapterMethod.BONE).r(plan.r())
        .build()).size();
    int loraRank = loraRankFor(base.config(), budget);
    List<Run> runs = new ArrayList<>();
    for (AdapterMethod m : plan.methods()) {
      int rank = m == AdapterMethod.LORA ? loraRank : plan.r();
      AdapterConfig ac = AdapterConfig.builder().method(m).r(rank).build();
      for (double lr : plan.lrs()) {
        TrainConfig tc = TrainConfig.builder().optimizer(OptimizerKind.ADAMW).lr(lr).batchSize(plan.batch())
            .seed(plan.seed()).build();
        List<Integer> steps = new ArrayList<>();
        List<Double> eval = new ArrayList<>();
        List<Double> trainLoss = new ArrayList<>();
        try (Trainer t = Trainer.create(base, ac, tc)) {
          double lastTrain = Double.NaN;
          for (int s = 0; s <= plan.steps(); s++) {
            if (s % plan.evalEvery() == 0 || s == plan.steps()) {
              steps.add(s);
              eval.add(t.evaluate(heldOut));
              trainLoss.add(lastTrain);
            }
            if (s < plan.steps()) {
              List<Example> batch = new ArrayList<>();
              for (int j = 0; j < plan.batch(); j++) {
                batch.add(train.get((s * plan.batch() + j) % train.size())); // the same order for every run
              }
              lastTrain = t.step(batch).loss();
            }
          }
          runs.add(new Run(m, rank, t.backend().parameterCount(), lr, steps, eval, trainLoss));
        }
        Run r = runs.get(runs.size() - 1);
        log.printf(Locale.ROOT, "%s r=%d (%d parameters) lr %.0e: held-out loss %.4f -> %.4f (best %.4f)%n", m.id(),
            rank, r.parameters(), lr, eval.get(0), r.finalEval(), r.bestEval());
        log.flush();
      }
    }
    return runs;
  }

  /** {@code method,rank,parameters,lr,step,train_loss,eval_loss}, one row per evaluated step. */
  public static void writeCsv(List<Run> runs, Path file) throws IOException {
    StringBuilder b = new StringBuilder("method,rank,parameters,lr,step,train_loss,eval_loss\n");
    for (Run r : runs) {
      for (int i = 0; i < r.steps().size(); i++) {
        b.append(String.format(Locale.ROOT, "%s,%d,%d,%s,%d,%s,%.6f%n", r.method().id(), r.rank(), r.parameters(),
            Double.toString(r.lr()), r.steps().get(i),
            Double.isNaN(r.trainLoss().get(i)) ? "" : String.format(Locale.ROOT, "%.6f", r.trainLoss().get(i)),
            r.evalLoss().get(i)));
      }
    }
    Files.writeString(file, b.toString(), StandardCharsets.UTF_8);
  }

  /** The held-out loss curves, one line per run: colour by method, dash by learning rate. */
  public static void writePlot(List<Run> runs, String title, Path file) throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYSeriesCollection data = new XYSeriesCollection();
    for (Run r : runs) {
      XYSeries s = new XYSeries(String.format(Locale.ROOT, "%s r=%d lr=%s", r.method().id(), r.rank(),
          Double.toString(r.lr())));
      for (int i = 0; i < r.steps().size(); i++) {
        s.add(r.steps().get(i).doubleValue(), r.evalLoss().get(i));
      }
      data.addSeries(s);
    }
    JFreeChart chart = ChartFactory.createXYLineChart(title, "step", "held-out loss (mean over answer tokens)",
        data, PlotOrientation.VERTICAL, true, false, false);
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
    plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, false);
    List<Double> lrs = runs.stream().map(Run::lr).distinct().sorted().toList();
    float[][] dashes = {null, {8f, 4f}, {2f, 3f}, {10f, 3f, 2f, 3f}};
    for (int i = 0; i < runs.size(); i++) {
      Run r = runs.get(i);
      renderer.setSeriesPaint(i, switch (r.method()) {
        case BAT -> new Color(0xD6, 0x27, 0x28);
        case BONE -> new Color(0x1F, 0x77, 0xB4);
        case LORA -> new Color(0x2C, 0xA0, 0x2C);
        case MINI -> new Color(0x94, 0x67, 0xBD);
      });
      float[] dash = dashes[lrs.indexOf(r.lr()) % dashes.length];
      renderer.setSeriesStroke(i, dash == null ? new BasicStroke(2f)
          : new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, dash, 0f));
    }
    plot.setRenderer(renderer);
    ChartUtils.saveChartAsPNG(file.toFile(), chart, 1000, 650);
  }
}
