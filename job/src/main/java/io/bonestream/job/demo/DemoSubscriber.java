package io.bonestream.job.demo;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.generate.Generator;
import io.bonestream.engine.generate.Sampling;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.BlobStore;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.InlineAdapter;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The demo's inference-side consumer: takes each committed adapter version, checks and loads it,
 * and reports its loss on the held-out prompts of its task (against the base model's) and its
 * answer to one held-out question.
 */
final class DemoSubscriber {
  /** What the subscriber measured for one version. */
  record Evaluation(String adapterId, long version, double baseLoss, double adapterLoss, String answer) {}

  private final BaseModel base;
  private final Tokenizer tokenizer;
  private final Path workDir;
  private final PrintWriter out;
  private final Map<String, DemoTask> tasks;
  private final Map<DemoTask, List<Example>> heldOut = new ConcurrentHashMap<>();
  private final Map<DemoTask, Double> baseLoss = new ConcurrentHashMap<>();
  private final Map<String, Evaluation> first = new ConcurrentHashMap<>();
  private final Map<String, Evaluation> latest = new ConcurrentHashMap<>();

  DemoSubscriber(BaseModel base, Tokenizer tokenizer, Path workDir, PrintWriter out, Map<String, DemoTask> tasks) {
    this.base = base;
    this.tokenizer = tokenizer;
    this.workDir = workDir;
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

  void accept(AdapterSnapshot s) {
    DemoTask task = tasks.get(s.getAdapterId());
    if (task == null) {
      return;
    }
    AdapterSet adapters = load(s);
    Transformer model = new Transformer(adapters.mergedInto(base), null);
    double loss = Trainer.evaluate(model, heldOut.get(task), 8);
    Evaluation e = new Evaluation(s.getAdapterId(), s.getVersion(), baseLoss.get(task), loss, answer(model, task));
    first.putIfAbsent(s.getAdapterId(), e);
    latest.put(s.getAdapterId(), e);
    out.printf(Locale.ROOT, "%-16s v%-3d step %-4d train loss %.3f | held-out loss %.3f (base %.3f) | \"%s\" -> \"%s\"%n",
        s.getAdapterId(), s.getVersion(), s.getStats().getStep(), s.getStats().getLossEma(), loss,
        e.baseLoss(), sampleQuestion(task), e.answer());
    out.flush();
  }

  Map<String, Evaluation> latest() {
    return latest;
  }

  /** The adapter of a manifest: inline bytes, or the blob of a claim check after its SHA-256 matches. */
  private AdapterSet load(AdapterSnapshot s) {
    Path dir = workDir.resolve(s.getAdapterId() + "@" + s.getVersion());
    try {
      Files.createDirectories(dir);
      if (s.getPayload() instanceof InlineAdapter in) {
        Files.writeString(dir.resolve(PeftExporter.ADAPTER_CONFIG), in.getAdapterConfigJson());
        Files.write(dir.resolve(PeftExporter.ADAPTER_WEIGHTS), bytes(in.getAdapterModelSafetensors()));
      } else {
        ClaimCheck cc = (ClaimCheck) s.getPayload();
        Path blob = Path.of(URI.create(cc.getUri()));
        byte[] weights = Files.readAllBytes(blob.resolve(PeftExporter.ADAPTER_WEIGHTS));
        if (!BlobStore.sha256(weights).equals(cc.getSha256())) {
          throw new BonestreamException("adapter " + s.getAdapterId() + "@" + s.getVersion()
              + ": blob SHA-256 does not match its manifest");
        }
        Files.write(dir.resolve(PeftExporter.ADAPTER_WEIGHTS), weights);
        Files.copy(blob.resolve(PeftExporter.ADAPTER_CONFIG), dir.resolve(PeftExporter.ADAPTER_CONFIG),
            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot store adapter " + s.getAdapterId() + "@" + s.getVersion() + ": " + e);
    }
    return PeftImporter.read(dir, base);
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
