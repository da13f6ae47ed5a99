package io.bonestream.job.demo;

import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.generate.Generator;
import io.bonestream.engine.generate.Sampling;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.serve.AdapterModels;
import io.bonestream.subscriber.AdapterListener;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.AdapterVersion;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The demo's view of the subscriber library: for each version the {@link
 * io.bonestream.subscriber.AdapterSubscriber} accepts, it reports the loss on the held-out prompts
 * of the adapter's task (against the base model's) and the answer to one held-out question.
 */
final class DemoSubscriber implements AdapterListener {
  /** What the subscriber measured for one version. */
  record Evaluation(String adapterId, long version, double baseLoss, double adapterLoss, String answer) {}

  private final BaseModel base;
  private final Tokenizer tokenizer;
  private final PrintWriter out;
  private final Map<String, DemoTask> tasks;
  private final Map<DemoTask, List<Example>> heldOut = new ConcurrentHashMap<>();
  private final Map<DemoTask, Double> baseLoss = new ConcurrentHashMap<>();
  private final Map<String, Evaluation> latest = new ConcurrentHashMap<>();
  /** Until the subscriber has caught up with the topic: the newest version per adapter, unevaluated. */
  private final Map<String, AdapterVersion> catchingUp = new java.util.TreeMap<>();
  private boolean live;

  DemoSubscriber(BaseModel base, Tokenizer tokenizer, PrintWriter out, Map<String, DemoTask> tasks) {
    this.base = base;
    this.tokenizer = tokenizer;
    this.out = out;
    this.tasks = tasks;
    ExampleEncoder enc = new ExampleEncoder(tokenizer, 64, base.config().vocabSize());
    Transformer plain = new Transformer(base, null);
    for (DemoTask t : DemoTask.values()) {
      List<Example> ex = new ArrayList<>();
      for (DemoTask.Pair p : t.heldOut()) {
        ex.add(enc.promptResponse(null, p.prompt(), p.response()));
      }
      heldOut.put(t, ex);
      baseLoss.put(t, Trainer.evaluate(plain, ex, 8));
    }
  }

  /** The base model's answer to a task's sample question. */
  String baseAnswer(DemoTask task) {
    return answer(new Transformer(base, null), task);
  }

  double baseLoss(DemoTask task) {
    return baseLoss.get(task);
  }

  static String sampleQuestion(DemoTask task) {
    return task.heldOut().get(0).prompt();
  }

  private String answer(Transformer model, DemoTask task) {
    int[] ids = Generator.generate(model, tokenizer.encode(sampleQuestion(task)), Sampling.greedy(16),
        tokenizer.eosId(), id -> { });
    return firstSentence(tokenizer.decode(ids).strip());
  }

  /**
   * The answer up to its first sentence end. stories260K was pretrained without an end-of-sequence
   * token, so an adapter learns to stop only slowly; what follows the answer is noise.
   */
  static String firstSentence(String text) {
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '.' || c == '?' || c == '!' || c == '\n') {
        return text.substring(0, c == '\n' ? i : i + 1);
      }
    }
    return text;
  }

  /**
   * Called once the subscriber has caught up with the adapters topic: evaluates and prints the
   * versions a restarted demo begins with (a fresh one has none), then reports each new version.
   */
  synchronized void goLive() {
    live = true;
    if (!catchingUp.isEmpty()) {
      out.println("versions already published (from an earlier run on this --data-dir):");
    }
    catchingUp.values().forEach(this::evaluate);
    catchingUp.clear();
  }

  @Override
  public synchronized void onUpdate(AdapterUpdate update) {
    if (update instanceof AdapterUpdate.Refused r) {
      out.printf(Locale.ROOT, "%-16s v%-3d REFUSED: %s%n", r.adapterId(), r.version(), r.message());
      out.flush();
      return;
    }
    AdapterVersion v = ((AdapterUpdate.Accepted) update).adapter();
    if (!live) {
      catchingUp.put(v.adapterId(), v); // evaluating the whole history would only delay the start
      return;
    }
    evaluate(v);
  }

  private void evaluate(AdapterVersion v) {
    DemoTask task = tasks.get(v.adapterId());
    if (task == null) {
      return;
    }
    Transformer model = new Transformer(AdapterModels.merged(v, base), null);
    double loss = Trainer.evaluate(model, heldOut.get(task), 8);
    Evaluation e = new Evaluation(v.adapterId(), v.version(), baseLoss.get(task), loss, answer(model, task));
    latest.put(v.adapterId(), e);
    out.printf(Locale.ROOT, "%-16s v%-3d step %-4d train loss %.3f | held-out loss %.3f (base %.3f) | \"%s\" -> \"%s\"%n",
        v.adapterId(), v.version(), v.stats().getStep(), v.stats().getLossEma(), loss,
        e.baseLoss(), sampleQuestion(task), e.answer());
    out.flush();
  }

  Map<String, Evaluation> latest() {
    return latest;
  }

}
