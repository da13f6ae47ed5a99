package io.bonestream.engine.train;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.backend.TrainingSession;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.backend.TrainingStateCodec;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.Transformer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Trains one adapter set on a frozen base model, one optimizer step at a time. Deterministic:
 * the same state and the same examples give the same bytes (for a fixed ND4J thread count on the
 * CPU backend).
 *
 * <p>The math runs in a {@link TrainingBackend} chosen by a {@link BackendFactory}
 * ({@link BackendFactory#CPU} by default: the CPU device for float32 models, the ND4J reference
 * engine for others); the trainer only talks to the seam. A backend that does not train
 * {@link #adapters()} in place has its values copied back into them when they are read. The loop itself (accumulation,
 * clipping, skipping) is {@link TrainingSession}'s.
 *
 * <p>A step whose loss or gradient is not finite changes nothing but the counters: it is counted
 * in {@link #skippedSteps()} and reported in its {@link StepResult}.
 */
public final class Trainer implements AutoCloseable {
  private final BaseModel base;
  private final AdapterSet adapters;
  private final TrainConfig config;
  private final Transformer model;
  private final TrainingBackend backend;
  private final TrainingSession session;
  private boolean hostStale;

  private Trainer(BaseModel base, AdapterSet adapters, TrainConfig config, Rng rng, BackendFactory factory) {
    this.base = base;
    this.adapters = adapters;
    this.config = config;
    this.backend = factory.open(base, adapters, config);
    this.model = new Transformer(base, adapters); // a host model over the host adapters (evaluation, decoding)
    this.session = new TrainingSession(backend, config, rng);
  }

  /** A fresh adapter (zero for bat/bone; LoRA's A drawn from the seed) and optimizer, on the CPU. */
  public static Trainer create(BaseModel base, AdapterConfig adapterConfig, TrainConfig config) {
    return create(base, adapterConfig, config, BackendFactory.CPU);
  }

  /** A fresh adapter and optimizer on the given backend. */
  public static Trainer create(BaseModel base, AdapterConfig adapterConfig, TrainConfig config,
      BackendFactory backend) {
    Rng rng = new Rng(config.seed());
    AdapterSet adapters = AdapterSet.create(base, adapterConfig, rng);
    return new Trainer(base, adapters, config, rng, backend);
  }

  /** Trains existing adapters (e.g. imported from a PEFT folder) with a fresh optimizer. */
  public static Trainer withAdapters(BaseModel base, AdapterSet adapters, TrainConfig config) {
    return withAdapters(base, adapters, config, BackendFactory.CPU);
  }

  public static Trainer withAdapters(BaseModel base, AdapterSet adapters, TrainConfig config,
      BackendFactory backend) {
    return new Trainer(base, adapters, config, new Rng(config.seed()), backend);
  }

  /**
   * Continues published adapter tensors (e.g. the newest snapshot of an adapter whose training state
   * was lost) with a fresh optimizer, keeping the counters it had reached (step, skipped steps,
   * tokens, examples) so that the schedule and the reported progress go on from there.
   */
  public static Trainer continueFrom(BaseModel base, AdapterSet adapters, TrainConfig config, long step,
      long skippedSteps, long tokensSeen, long examplesSeen) {
    return continueFrom(base, adapters, config, step, skippedSteps, tokensSeen, examplesSeen, BackendFactory.CPU);
  }

  /** {@link #continueFrom} on the given backend. */
  public static Trainer continueFrom(BaseModel base, AdapterSet adapters, TrainConfig config, long step,
      long skippedSteps, long tokensSeen, long examplesSeen, BackendFactory backend) {
    Trainer t = new Trainer(base, adapters, config, new Rng(config.seed()), backend);
    t.session.restoreCounters(step, 0, skippedSteps, tokensSeen, examplesSeen);
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
    return restore(base, state, config, BackendFactory.CPU);
  }

  /** Continues from a saved state (made on any backend) on the given backend. */
  public static Trainer restore(BaseModel base, TrainingState state, TrainConfig config,
      BackendFactory backend) {
    if (!state.baseFingerprint().equals(base.fingerprint())) {
      throw new BonestreamException("the training state was made on base model "
          + shortHash(state.baseFingerprint()) + ", not on " + base.name() + " ("
          + shortHash(base.fingerprint()) + ")");
    }
    if (config.optimizer() != state.trainConfig().optimizer()) {
      throw new BonestreamException("the training state holds " + state.trainConfig().optimizer()
          + " moments; it cannot continue with " + config.optimizer());
    }
    AdapterSet adapters = AdapterSet.create(base, state.adapterConfig(), new Rng(0));
    Map<String, INDArray> adapterTensors = new LinkedHashMap<>();
    state.tensors().forEach((k, v) -> {
      if (!k.startsWith("optimizer.")) {
        adapterTensors.put(k, HostArrays.array(v));
      }
    });
    adapters.loadPeftTensors(adapterTensors, "the training state");
    Trainer t = new Trainer(base, adapters, config, new Rng(state.rngState()), backend);
    List<String> names = List.of(TrainingState.EXP_AVG, TrainingState.EXP_AVG_SQ);
    if (config.optimizer() == OptimizerKind.ADAMW) {
      long n = adapters.parameterCount();
      HostTensor[] moments = new HostTensor[2];
      for (int i = 0; i < 2; i++) {
        HostTensor saved = state.tensors().get(names.get(i));
        if (saved == null || saved.length() != n) {
          throw new BonestreamException("training state lacks " + names.get(i) + " of " + n + " values");
        }
        moments[i] = saved;
      }
      t.backend.loadMomentTensors(moments[0], moments[1]);
    }
    t.session.restoreCounters(state.step(), state.updates(), state.skippedSteps(), state.tokensSeen(),
        state.examplesSeen());
    return t;
  }

  private static String shortHash(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }

  /** One optimizer step over {@code examples}, cut into micro-batches of the configured size. */
  public StepResult step(List<Example> examples) {
    hostStale = true;
    return session.step(examples);
  }

  /**
   * One optimizer step whose gradient is accumulated over the given micro-batches; the loss is the
   * mean over every target token of all of them.
   */
  public StepResult stepMicroBatches(List<List<Example>> microBatches) {
    hostStale = true;
    return session.stepMicroBatches(microBatches);
  }

  /**
   * As {@link #stepMicroBatches}, also giving the mean loss of the first {@code measured}
   * micro-batches from the step's own forward pass (before its update).
   */
  public TrainingSession.Measured stepMeasuring(List<List<Example>> microBatches, int measured) {
    hostStale = true;
    return session.stepMeasuring(microBatches, measured);
  }

  /** Weighted mean loss over the target tokens of {@code examples}, without training. */
  public double evaluate(List<Example> examples) {
    return session.evaluate(examples, config.batchSize());
  }

  /** Mean loss of any model (e.g. the base alone) over the target tokens of {@code examples}. */
  public static double evaluate(Transformer model, List<Example> examples, int batchSize) {
    double sum = 0;
    double weight = 0;
    for (int i = 0; i < examples.size(); i += batchSize) {
      LossSum out = model.loss(
          Example.batch(examples.subList(i, Math.min(examples.size(), i + batchSize))));
      sum += out.sum();
      weight += out.weight();
    }
    return sum / weight;
  }

  /** A copy of the whole training state, safe to keep while training goes on. */
  public TrainingState state() {
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    adapters().peftTensors().forEach((k, v) -> tensors.put(k, HostArrays.hostTensor(v)));
    List<HostTensor> m = backend.momentTensors();
    if (m.size() == 2) {
      // the moments in the adapters' precision
      boolean dbl = adapters.flatParameters().dataType() == DataType.DOUBLE;
      tensors.put(TrainingState.EXP_AVG, HostArrays.inPrecision(m.get(0), dbl));
      tensors.put(TrainingState.EXP_AVG_SQ, HostArrays.inPrecision(m.get(1), dbl));
    }
    return new TrainingState(adapters.config(), config, base.fingerprint(), session.step(),
        session.updates(), session.skippedSteps(), session.rng().state(), session.tokensSeen(),
        session.examplesSeen(), tensors);
  }

  /** The training state in its binary form ({@link TrainingStateCodec}). */
  public byte[] encodedState() {
    return TrainingStateCodec.encode(state());
  }

  /** The adapters, with the backend's current values (copied back from a device when stale). */
  public AdapterSet adapters() {
    if (hostStale && !backend.trainsHostAdapters()) {
      adapters.flatParameters().assign(Nd4j.create(backend.parameters())
          .castTo(adapters.flatParameters().dataType()));
    }
    hostStale = false;
    return adapters;
  }

  /** A CPU model of the base with {@link #adapters()}. */
  public Transformer model() {
    adapters();
    return model;
  }

  /** Where the math runs. */
  public TrainingBackend backend() {
    return backend;
  }

  public BaseModel base() {
    return base;
  }

  public TrainConfig config() {
    return config;
  }

  public Rng rng() {
    return session.rng();
  }

  public long step() {
    return session.step();
  }

  public long skippedSteps() {
    return session.skippedSteps();
  }

  public long tokensSeen() {
    return session.tokensSeen();
  }

  public long examplesSeen() {
    return session.examplesSeen();
  }

  /** Releases the backend's resources (device memory); a CPU trainer holds none. */
  @Override
  public void close() {
    backend.close();
  }
}
