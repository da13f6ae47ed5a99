package io.bonestream.engine.train;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.util.Workspaces;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Trains one adapter set on a frozen base model, one optimizer step at a time. Deterministic:
 * the same state and the same examples give the same bytes (for a fixed ND4J thread count).
 *
 * <p>A step whose loss or gradient is not finite changes nothing but the counters: it is counted
 * in {@link #skippedSteps()} and reported in its {@link StepResult}.
 */
public final class Trainer {
  private final BaseModel base;
  private final AdapterSet adapters;
  private final TrainConfig config;
  private final Transformer model;
  private final Optimizer optimizer;
  private final Rng rng;
  private long step;
  private long updates;
  private long skippedSteps;
  private long tokensSeen;
  private long examplesSeen;

  private Trainer(BaseModel base, AdapterSet adapters, TrainConfig config, Rng rng) {
    this.base = base;
    this.adapters = adapters;
    this.config = config;
    this.model = new Transformer(base, adapters);
    this.optimizer = new Optimizer(config, adapters.flatParameters());
    this.rng = rng;
  }

  /** A fresh adapter (zero for bat/bone; LoRA's A drawn from the seed) and optimizer. */
  public static Trainer create(BaseModel base, AdapterConfig adapterConfig, TrainConfig config) {
    Rng rng = new Rng(config.seed());
    AdapterSet adapters = AdapterSet.create(base, adapterConfig, rng);
    return new Trainer(base, adapters, config, rng);
  }

  /** Trains existing adapters (e.g. imported from a PEFT folder) with a fresh optimizer. */
  public static Trainer withAdapters(BaseModel base, AdapterSet adapters, TrainConfig config) {
    return new Trainer(base, adapters, config, new Rng(config.seed()));
  }

  /**
   * Continues published adapter tensors (e.g. the newest snapshot of an adapter whose training state
   * was lost) with a fresh optimizer, keeping the counters it had reached (step, skipped steps,
   * tokens, examples) so that the schedule and the reported progress go on from there.
   */
  public static Trainer continueFrom(BaseModel base, AdapterSet adapters, TrainConfig config, long step,
      long skippedSteps, long tokensSeen, long examplesSeen) {
    Trainer t = new Trainer(base, adapters, config, new Rng(config.seed()));
    t.step = step;
    t.skippedSteps = skippedSteps;
    t.tokensSeen = tokensSeen;
    t.examplesSeen = examplesSeen;
    return t;
  }

  /** Continues from a saved state; the base model must be the one it was trained on. */
  public static Trainer restore(BaseModel base, TrainingState state) {
    return restore(base, state, state.trainConfig());
  }

  /**
   * Continues from a saved state with possibly changed hyperparameters (e.g. more total steps);
   * the optimizer kind must stay the same.
   */
  public static Trainer restore(BaseModel base, TrainingState state, TrainConfig config) {
    if (!state.baseFingerprint().equals(base.fingerprint())) {
      throw new BonestreamException("the training state was made on base model "
          + shortHash(state.baseFingerprint()) + ", not on " + base.name() + " ("
          + shortHash(base.fingerprint()) + ")");
    }
    if (config.optimizer() != state.trainConfig().optimizer()) {
      throw new BonestreamException("the training state holds " + state.trainConfig().optimizer()
          + " moments; it cannot continue with " + config.optimizer());
    }
    Trainer t = new Trainer(base, AdapterSet.create(base, state.adapterConfig(), new Rng(0)), config,
        new Rng(state.rngState()));
    Map<String, INDArray> adapterTensors = new LinkedHashMap<>();
    state.tensors().forEach((k, v) -> {
      if (!k.startsWith("optimizer.")) {
        adapterTensors.put(k, v);
      }
    });
    t.adapters.loadPeftTensors(adapterTensors, "the training state");
    List<INDArray> own = t.optimizer.stateTensors();
    List<String> names = List.of(TrainingState.EXP_AVG, TrainingState.EXP_AVG_SQ);
    for (int i = 0; i < own.size(); i++) {
      INDArray saved = state.tensors().get(names.get(i));
      if (saved == null || saved.length() != own.get(i).length()) {
        throw new BonestreamException("training state lacks " + names.get(i) + " of "
            + own.get(i).length() + " values");
      }
      own.get(i).assign(saved);
    }
    t.step = state.step();
    t.updates = state.updates();
    t.skippedSteps = state.skippedSteps();
    t.tokensSeen = state.tokensSeen();
    t.examplesSeen = state.examplesSeen();
    return t;
  }

  private static String shortHash(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }

  /** One optimizer step over {@code examples}, cut into micro-batches of the configured size. */
  public StepResult step(List<Example> examples) {
    List<List<Example>> micro = new ArrayList<>();
    for (int i = 0; i < examples.size(); i += config.batchSize()) {
      micro.add(examples.subList(i, Math.min(examples.size(), i + config.batchSize())));
    }
    return stepMicroBatches(micro);
  }

  /**
   * One optimizer step whose gradient is accumulated over the given micro-batches; the loss is the
   * mean over every target token of all of them.
   */
  public StepResult stepMicroBatches(List<List<Example>> microBatches) {
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
    adapters.zeroGradients();
    double lossSum = 0;
    for (TokenBatch b : batches) {
      lossSum += model.forwardBackward(b, weight).sum();
    }
    double loss = lossSum / weight;
    INDArray grads = adapters.flatGradients();
    double gradNorm = grads.norm2Number().doubleValue();
    double lr = config.learningRate(step);
    boolean skip = !Double.isFinite(loss) || !Double.isFinite(gradNorm);
    if (skip) {
      skippedSteps++;
    } else {
      update(grads, gradNorm, lr);
    }
    StepResult r = new StepResult(step, loss, gradNorm, lr, skip, count, tokens, targets,
        (System.nanoTime() - started) / 1e9);
    step++;
    tokensSeen += tokens;
    examplesSeen += count;
    return r;
  }

  private void update(INDArray grads, double gradNorm, double lr) {
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.UPDATE)) {
      if (config.maxGradNorm() > 0) {
        double coef = config.maxGradNorm() / (gradNorm + 1e-6); // clip_grad_norm_
        if (coef < 1.0) {
          grads.muli(coef);
        }
      }
      updates++;
      optimizer.step(adapters.flatParameters(), grads, lr, updates);
    }
  }

  /** Weighted mean loss over the target tokens of {@code examples}, without training. */
  public double evaluate(List<Example> examples) {
    return evaluate(model, examples, config.batchSize());
  }

  /** Mean loss of any model (e.g. the base alone) over the target tokens of {@code examples}. */
  public static double evaluate(Transformer model, List<Example> examples, int batchSize) {
    double sum = 0;
    double weight = 0;
    for (int i = 0; i < examples.size(); i += batchSize) {
      Transformer.LossSum out = model.loss(
          Example.batch(examples.subList(i, Math.min(examples.size(), i + batchSize))));
      sum += out.sum();
      weight += out.weight();
    }
    return sum / weight;
  }

  /** A copy of the whole training state, safe to keep while training goes on. */
  public TrainingState state() {
    return state(true);
  }

  /**
   * The training state in its binary form ({@link TrainingStateCodec}), encoded straight from the
   * live tensors: one copy, not two.
   */
  public byte[] encodedState() {
    return TrainingStateCodec.encode(state(false));
  }

  private TrainingState state(boolean copy) {
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    adapters.peftTensors().forEach((k, v) -> tensors.put(k, copy ? v.dup('c') : v));
    List<INDArray> st = optimizer.stateTensors();
    if (!st.isEmpty()) {
      tensors.put(TrainingState.EXP_AVG, copy ? st.get(0).dup('c') : st.get(0));
      tensors.put(TrainingState.EXP_AVG_SQ, copy ? st.get(1).dup('c') : st.get(1));
    }
    return new TrainingState(adapters.config(), config, base.fingerprint(), step, updates,
        skippedSteps, rng.state(), tokensSeen, examplesSeen, tensors);
  }

  public AdapterSet adapters() {
    return adapters;
  }

  public Transformer model() {
    return model;
  }

  public BaseModel base() {
    return base;
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
