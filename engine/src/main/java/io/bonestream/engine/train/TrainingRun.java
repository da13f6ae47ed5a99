package io.bonestream.engine.train;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.core.util.Json;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.engine.backend.SharedBackend;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.backend.TrainingStateCodec;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.ExampleOrder;
import io.bonestream.engine.data.JsonlDataset;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Offline training from a JSONL file to an adapter folder: what {@code bonestream train} runs.
 * Writes the adapter (PEFT), {@code losses.json} (the loss of each step, and the eval loss before
 * and after training when eval data is given) and
 * {@code trainer_state.bin} (to resume exactly) into the output folder.
 */
public final class TrainingRun {
  public static final String LOSSES = "losses.json";
  public static final String STATE = "trainer_state.bin";

  private TrainingRun() {}

  /**
   * @param steps total optimizer steps (a resumed run continues up to this count); or 0 with
   *     {@code epochs} > 0 to derive it from the data size
   * @param reading how the JSONL records are read: their shape (or auto) and field names
   * @param resume an earlier output folder: its {@code trainer_state.bin} if present, else its
   *     PEFT adapter with a fresh optimizer
   */
  public record Options(Path model, Path data, AdapterConfig adapter, TrainConfig train, long steps,
      int epochs, boolean shuffle, Path out, @Nullable Path resume, @Nullable Path evalData, BackendSpec backend,
      RecordParser.Options reading) {
    /** Records of any shape, standard field names. */
    public Options(Path model, Path data, AdapterConfig adapter, TrainConfig train, long steps, int epochs,
        boolean shuffle, Path out, @Nullable Path resume, @Nullable Path evalData, BackendSpec backend) {
      this(model, data, adapter, train, steps, epochs, shuffle, out, resume, evalData, backend,
          RecordParser.Options.DEFAULT);
    }

    /** On the CPU. */
    public Options(Path model, Path data, AdapterConfig adapter, TrainConfig train, long steps, int epochs,
        boolean shuffle, Path out, @Nullable Path resume, @Nullable Path evalData) {
      this(model, data, adapter, train, steps, epochs, shuffle, out, resume, evalData, BackendSpec.CPU);
    }
  }

  /** Receives progress. */
  public interface Listener {
    void info(String message);

    void step(StepResult result, long totalSteps);
  }

  /** How a run went; the eval losses are NaN without eval data. */
  public record Summary(long steps, long skippedSteps, double firstLoss, double lastLoss,
      double evalLossBefore, double evalLossAfter, double tokensPerSecond, Path out) {}

  public static Summary run(Options o, Listener listener) {
    BaseModel base = BaseModel.load(o.model());
    listener.info("model " + base.name() + ": " + base.config().modelType() + ", "
        + base.parameterCount() + " parameters, weights sha256 " + base.fingerprint().substring(0, 12));
    List<Example> examples;
    List<Example> eval = List.of();
    try (Tokenizer tokenizer = Tokenizer.load(o.model(), base.config())) {
      ExampleEncoder encoder = new ExampleEncoder(tokenizer, o.train().maxSeqLen(), base.config().vocabSize());
      examples = JsonlDataset.read(o.data(), new RecordParser(encoder, o.reading()));
      if (o.evalData() != null) {
        eval = JsonlDataset.read(o.evalData(), new RecordParser(encoder, o.reading()));
      }
    }
    int perStep = o.train().batchSize() * o.train().gradAccum();
    long steps = o.steps();
    if (steps <= 0) {
      if (o.epochs() <= 0) {
        throw new BonestreamException("give --steps or --epochs");
      }
      steps = ((long) o.epochs() * examples.size() + perStep - 1) / perStep;
    }
    TrainConfig config = o.train().toBuilder().totalSteps(steps).build();
    try (SharedBackend backend = Backends.acquire(o.backend(), base)) {
      if (!o.backend().isCpu()) {
        listener.info("backend: " + backend.describe());
      }
      return train(o, base, config, steps, examples, eval, backend, listener);
    }
  }

  private static Summary train(Options o, BaseModel base, TrainConfig config, long steps, List<Example> examples,
      List<Example> eval, BackendFactory backend, Listener listener) {
    int perStep = o.train().batchSize() * o.train().gradAccum();
    Trainer trainer = startTrainer(o, base, config, backend, listener);
    listener.info(examples.size() + " examples, " + steps + " steps of " + perStep + " examples; "
        + trainer.adapters().config().method() + " r=" + trainer.adapters().config().r() + " on "
        + trainer.adapters().config().targetModuleNames() + ": "
        + trainer.adapters().parameterCount() + " trainable parameters");
    double evalBefore = Double.NaN;
    if (!eval.isEmpty()) {
      evalBefore = trainer.evaluate(eval);
      listener.info(String.format(java.util.Locale.ROOT, "eval loss before training: %.4f (%d examples)",
          evalBefore, eval.size()));
    }
    ExampleOrder order = new ExampleOrder(examples.size(), config.seed(), o.shuffle());
    List<Double> losses = new ArrayList<>();
    long tokens = 0;
    double seconds = 0;
    for (long s = trainer.step(); s < steps; s++) {
      List<Example> batch = new ArrayList<>(perStep);
      for (int j = 0; j < perStep; j++) {
        batch.add(examples.get(order.at(s * perStep + j)));
      }
      StepResult r = trainer.step(batch);
      losses.add(r.loss());
      tokens += r.tokens();
      seconds += r.seconds();
      listener.step(r, steps);
    }
    double evalAfter = eval.isEmpty() ? Double.NaN : trainer.evaluate(eval);
    if (!eval.isEmpty()) {
      listener.info(String.format(java.util.Locale.ROOT, "eval loss after training: %.4f", evalAfter));
    }
    write(trainer, o, base, losses, evalBefore, evalAfter);
    trainer.close();
    return new Summary(steps, trainer.skippedSteps(), losses.isEmpty() ? Double.NaN : losses.get(0),
        losses.isEmpty() ? Double.NaN : losses.get(losses.size() - 1), evalBefore, evalAfter,
        seconds == 0 ? 0 : tokens / seconds, o.out());
  }

  private static Trainer startTrainer(Options o, BaseModel base, TrainConfig config, BackendFactory backend,
      Listener listener) {
    if (o.resume() == null) {
      return Trainer.create(base, o.adapter(), config, backend);
    }
    Path stateFile = o.resume().resolve(STATE);
    if (Files.isRegularFile(stateFile)) {
      TrainingState state;
      try {
        state = TrainingStateCodec.decode(Files.readAllBytes(stateFile));
      } catch (IOException e) {
        throw new BonestreamException("cannot read " + stateFile + ": " + e.getMessage());
      }
      listener.info("resuming from " + stateFile + " at step " + state.step());
      return Trainer.restore(base, state, config, backend);
    }
    AdapterSet imported = PeftImporter.read(o.resume(), base);
    listener.info("continuing the adapter in " + o.resume() + " with a fresh optimizer");
    return Trainer.withAdapters(base, imported, config, backend);
  }

  private static void write(Trainer trainer, Options o, BaseModel base, List<Double> losses,
      double evalBefore, double evalAfter) {
    PeftFormat format = trainer.adapters().config().method() == AdapterMethod.LORA
        ? PeftFormat.LORA : PeftFormat.MISS;
    PeftExporter.export(trainer.adapters(), base, o.model(), format, trainer.adapters().config().r(), o.out());
    ObjectNode l = Json.MAPPER.createObjectNode();
    var arr = l.putArray("losses");
    losses.forEach(arr::add);
    if (!Double.isNaN(evalBefore)) {
      l.put("eval_loss_before", evalBefore);
      l.put("eval_loss_after", evalAfter);
    }
    Json.write(o.out().resolve(LOSSES), l);
    try {
      Files.write(o.out().resolve(STATE), trainer.encodedState());
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + o.out().resolve(STATE) + ": " + e.getMessage());
    }
  }
}
