package io.bonestream.engine.backend;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The backend-free training loop: one optimizer step over micro-batches (gradient accumulation,
 * loss, global norm, clipping, skipping a non-finite step) and the counters of the training state.
 * The math runs in a {@link TrainingBackend}; {@code Trainer} is this loop with the ND4J API on top.
 *
 * <p>A step whose loss or gradient norm is not finite changes nothing but the counters.
 */
public final class TrainingSession {
  private final TrainingBackend backend;
  private final TrainConfig config;
  private final Rng rng;
  private long step;
  private long updates;
  private long skippedSteps;
  private long tokensSeen;
  private long examplesSeen;

  public TrainingSession(TrainingBackend backend, TrainConfig config, Rng rng) {
    this.backend = backend;
    this.config = config;
    this.rng = rng;
  }

  /** Sets the counters of a restored state. */
  public void restoreCounters(long step, long updates, long skippedSteps, long tokensSeen, long examplesSeen) {
    this.step = step;
    this.updates = updates;
    this.skippedSteps = skippedSteps;
    this.tokensSeen = tokensSeen;
    this.examplesSeen = examplesSeen;
  }

  /** One optimizer step over {@code examples}, cut into micro-batches of the configured size. */
  public StepResult step(List<Example> examples) {
    return stepMicroBatches(microBatches(examples, config.batchSize()));
  }

  /** {@code examples} cut in order into micro-batches of {@code size} (the last one may be smaller). */
  public static List<List<Example>> microBatches(List<Example> examples, int size) {
    List<List<Example>> micro = new ArrayList<>();
    for (int i = 0; i < examples.size(); i += size) {
      micro.add(examples.subList(i, Math.min(examples.size(), i + size)));
    }
    return micro;
  }

  /**
   * A step's result and the mean loss over the target tokens of its first micro-batches, from the
   * step's own forward pass, so before its update (NaN when none were measured).
   */
  public record Measured(StepResult result, double firstLoss) {}

  /**
   * One optimizer step whose gradient is accumulated over the given micro-batches; the loss is the
   * mean over every target token of all of them.
   */
  public StepResult stepMicroBatches(List<List<Example>> microBatches) {
    return stepMeasuring(microBatches, 0).result();
  }

  /**
   * As {@link #stepMicroBatches}, also measuring the mean loss of the first {@code measured}
   * micro-batches in the same forward pass (the training operator's drift signal reads the fresh
   * examples' loss this way when replays follow them, instead of a forward pass of its own).
   */
  public Measured stepMeasuring(List<List<Example>> microBatches, int measured) {
    long started = System.nanoTime();
    if (microBatches.isEmpty()) {
      throw new IllegalArgumentException("a step needs at least one example");
    }
    List<TokenBatch> batches = new ArrayList<>();
    long targets = 0;
    double weight = 0;
    long tokens = 0;
    int count = 0;
    for (List<Example> mb : microBatches) {
      TokenBatch b = Example.batch(mb);
      batches.add(b);
      targets += b.targetCount();
      weight += b.targetWeight();
      for (Example e : mb) {
        tokens += e.length();
      }
      count += mb.size();
    }
    backend.zeroGradients();
    double lossSum = 0;
    double measuredSum = 0;
    double measuredWeight = 0;
    for (int i = 0; i < batches.size(); i++) {
      double sum = backend.forwardBackward(batches.get(i), weight).sum();
      lossSum += sum;
      if (i < measured) {
        measuredSum += sum;
        measuredWeight += batches.get(i).targetWeight();
      }
    }
    double loss = lossSum / weight;
    double gradNorm = backend.gradientNorm();
    double lr = config.learningRate(step);
    boolean skip = !Double.isFinite(loss) || !Double.isFinite(gradNorm);
    if (skip) {
      skippedSteps++;
    } else {
      double scale = 1.0;
      if (config.maxGradNorm() > 0) {
        double coef = config.maxGradNorm() / (gradNorm + 1e-6); // clip_grad_norm_
        if (coef < 1.0) {
          scale = coef;
        }
      }
      updates++;
      backend.update(scale, lr, updates);
    }
    StepResult r = new StepResult(step, loss, gradNorm, lr, skip, count, tokens, targets,
        (System.nanoTime() - started) / 1e9);
    step++;
    tokensSeen += tokens;
    examplesSeen += count;
    return new Measured(r, measured > 0 ? measuredSum / measuredWeight : Double.NaN);
  }

  /** Weighted mean loss over the target tokens of {@code examples}, without training. */
  public double evaluate(List<Example> examples, int batchSize) {
    double sum = 0;
    double weight = 0;
    for (int i = 0; i < examples.size(); i += batchSize) {
      LossSum out = backend.loss(Example.batch(examples.subList(i, Math.min(examples.size(), i + batchSize))));
      sum += out.sum();
      weight += out.weight();
    }
    return sum / weight;
  }

  /** The whole training state, copied out of the backend. */
  public TrainingState state(AdapterLayout layout, String baseFingerprint) {
    float[] flat = backend.parameters();
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    for (AdapterLayout.Site s : layout.sites()) {
      for (AdapterLayout.Tensor t : s.tensors()) {
        float[] v = new float[Math.toIntExact(t.length())];
        System.arraycopy(flat, (int) t.offset(), v, 0, v.length);
        tensors.put(AdapterLayout.PEFT_PREFIX + s.modulePath() + "." + t.suffix(), HostTensor.of(v, t.shape()));
      }
    }
    float[][] m = backend.moments();
    if (m.length == 2) {
      tensors.put(TrainingState.EXP_AVG, HostTensor.of(m[0], m[0].length));
      tensors.put(TrainingState.EXP_AVG_SQ, HostTensor.of(m[1], m[1].length));
    }
    return new TrainingState(layout.config(), config, baseFingerprint, step, updates, skippedSteps,
        rng.state(), tokensSeen, examplesSeen, tensors);
  }

  /**
   * Loads a state's tensors into the backend and its counters into this session: the adapter
   * tensors by key and shape, and for AdamW both moments.
   */
  public void load(TrainingState state, AdapterLayout layout) {
    float[] flat = new float[Math.toIntExact(layout.size())];
    for (AdapterLayout.Site s : layout.sites()) {
      for (AdapterLayout.Tensor t : s.tensors()) {
        String key = AdapterLayout.PEFT_PREFIX + s.modulePath() + "." + t.suffix();
        HostTensor v = state.tensors().get(key);
        if (v == null) {
          throw new BonestreamException("adapter tensor " + key + " missing from the training state");
        }
        if (!java.util.Arrays.equals(v.shape(), t.shape())) {
          throw new BonestreamException("adapter tensor " + key + " in the training state has shape "
              + java.util.Arrays.toString(v.shape()) + ", expected " + java.util.Arrays.toString(t.shape()));
        }
        System.arraycopy(v.toFloats(), 0, flat, (int) t.offset(), (int) t.length());
      }
    }
    backend.loadParameters(flat);
    if (config.optimizer() == OptimizerKind.ADAMW) {
      HostTensor m = state.tensors().get(TrainingState.EXP_AVG);
      HostTensor v = state.tensors().get(TrainingState.EXP_AVG_SQ);
      for (Object[] nm : new Object[][] {{TrainingState.EXP_AVG, m}, {TrainingState.EXP_AVG_SQ, v}}) {
        HostTensor t = (HostTensor) nm[1];
        if (t == null || t.length() != layout.size()) {
          throw new BonestreamException("training state lacks " + nm[0] + " of " + layout.size() + " values");
        }
      }
      backend.loadMoments(m.toFloats(), v.toFloats());
    }
    restoreCounters(state.step(), state.updates(), state.skippedSteps(), state.tokensSeen(), state.examplesSeen());
  }

  public TrainingBackend backend() {
    return backend;
  }

  public TrainConfig config() {
    return config;
  }

  public Rng rng() {
    return rng;
  }

  public long step() {
    return step;
  }

  public long updates() {
    return updates;
  }

  public long skippedSteps() {
    return skippedSteps;
  }

  public long tokensSeen() {
    return tokensSeen;
  }

  public long examplesSeen() {
    return examplesSeen;
  }
}
