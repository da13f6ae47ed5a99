package io.bonestream.job;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.ScheduleKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.decode.InputLimits;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.BatchPolicy;
import io.bonestream.operators.train.ContinualPolicy;
import io.bonestream.operators.train.EvalPolicy;
import io.bonestream.operators.train.Quotas;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The settings of {@code bonestream run}, from a YAML file. Every key is documented in
 * {@code job/job.example.yaml}; an unknown key or an invalid value is an error naming it.
 *
 * @param savepointTimeoutMs how long a stop waits for its savepoint before it cancels the job
 *     (whose retained checkpoints then serve the next start)
 * @param flink Flink configuration passed through (e.g. {@code parallelism.default},
 *     {@code rest.port})
 */
public record JobConfig(StreamingJob job, String checkpointDir, long checkpointIntervalMs,
    long savepointTimeoutMs, Map<String, String> flink) {

  /** Reads and validates {@code file}; a GPU backend is opened here to check it (see {@link #read(Path, boolean)}). */
  public static JobConfig read(Path file) {
    return read(file, true);
  }

  /**
   * Reads and validates {@code file}. With {@code checkBackend}, a {@code cuda} backend is opened
   * here, so that a missing GPU or library is one error line before anything starts ({@code run});
   * without, only its name and precision are checked: a cluster's JobManager, which builds the job
   * but trains nothing, needs no GPU (its TaskManagers open the backend).
   */
  public static JobConfig read(Path file, boolean checkBackend) {
    JsonNode root;
    try {
      root = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(file));
    } catch (NoSuchFileException e) {
      throw new BonestreamException("config file not found: " + file);
    } catch (JsonProcessingException e) {
      throw new BonestreamException("cannot read " + file + ": " + yamlError(e));
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + firstLine(e.getMessage()));
    }
    String name = file.getFileName().toString();
    StrictNode c = new StrictNode(root, name, "").allow("kafka", "topics", "model", "max-seq-len",
        "checkpoints", "blob-store", "flink", "adapter-defaults", "adapters", "batching", "snapshots",
        "backend", "precision", "recompute", "signing", "quotas", "input", "control");
    StrictNode kafka = c.section("kafka").allow("bootstrap-servers", "properties", "group-id",
        "transactional-id-prefix", "transaction-timeout");
    StrictNode topics = c.section("topics").allow("instructions", "adapters", "dead-letters", "gated",
        "control");
    StrictNode ckpt = c.section("checkpoints").allow("dir", "interval", "savepoint-timeout");
    StrictNode batching = c.section("batching").allow("max-examples", "max-tokens",
        "max-event-time-span", "wall-clock-flush");
    StrictNode snaps = c.section("snapshots").allow("every-steps", "every-event-time",
        "every-wall-clock", "inline-limit");
    StrictNode sign = c.section("signing").allow("private-key-file", "private-key-env", "trusted-public-keys");
    StrictNode control = c.section("control").allow("public-keys", "max-age");
    StrictNode quota = c.section("quotas").allow("max-adapters", "max-share", "share-window-tokens",
        "max-record-bytes", "max-messages", "max-text-chars");

    Properties props = new Properties();
    props.putAll(kafka.properties("properties"));
    AdapterProfile defaults = profile(c.section("adapter-defaults"), null, false);
    List<AdapterProfiles.Override> overrides = new ArrayList<>();
    for (StrictNode o : c.list("adapters")) {
      overrides.add(new AdapterProfiles.Override(o.requiredText("match"), profile(o, defaults, true)));
    }
    String blobStore = c.requiredText("blob-store");
    List<io.bonestream.operators.decode.InputSpec> inputs = InputsConfig.read(c.list("input"));
    if (!inputs.isEmpty() && topics.has("instructions")) {
      throw c.error("give topics.instructions or input, not both (an input names its own topics)");
    }
    try {
      StreamingJob job = StreamingJob.builder()
          .bootstrapServers(kafka.requiredText("bootstrap-servers"))
          .kafkaProperties(props)
          .groupId(kafka.text("group-id", "bonestream"))
          .transactionalIdPrefix(kafka.text("transactional-id-prefix", "bonestream"))
          .transactionTimeoutMs(kafka.millis("transaction-timeout", 600_000))
          .instructionsTopic(topics.text("instructions", StreamingJob.INSTRUCTIONS_TOPIC))
          .inputs(inputs)
          .adaptersTopic(topics.text("adapters", StreamingJob.ADAPTERS_TOPIC))
          .deadLetterTopic(topics.text("dead-letters", StreamingJob.DEAD_LETTER_TOPIC))
          .gatedTopic(topics.text("gated", StreamingJob.GATED_TOPIC))
          .controlTopic(topics.text("control", StreamingJob.CONTROL_TOPIC))
          .controlTrust(controlTrust(control))
          .modelDir(c.requiredText("model"))
          .maxSeqLen((int) c.integer("max-seq-len", 512))
          .backend(backend(c, checkBackend))
          .signing(signing(sign))
          .trustedPublicKeys(trustedPublicKeys(sign))
          .quotas(new Quotas((int) quota.integer("max-adapters", 0), quota.number("max-share", 1.0),
              quota.integer("share-window-tokens", 65_536)))
          .inputLimits(new InputLimits((int) quota.bytes("max-record-bytes", InputLimits.DEFAULT.maxRecordBytes()),
              (int) quota.integer("max-messages", InputLimits.DEFAULT.maxMessages()),
              (int) quota.integer("max-text-chars", InputLimits.DEFAULT.maxTextChars())))
          .profiles(new AdapterProfiles(defaults, overrides))
          .batchPolicy(new BatchPolicy((int) batching.integer("max-examples", 8),
              batching.integer("max-tokens", Long.MAX_VALUE),
              batching.millis("max-event-time-span", 0), batching.millis("wall-clock-flush", 0)))
          .snapshotPolicy(new SnapshotPolicy(snaps.integer("every-steps", 10),
              snaps.millis("every-event-time", 0), snaps.millis("every-wall-clock", 0),
              (int) snaps.bytes("inline-limit", SnapshotPolicy.DEFAULT_INLINE_LIMIT), blobStore))
          .build();
      return new JobConfig(job, ckpt.requiredText("dir"), ckpt.millis("interval", 30_000),
          ckpt.millis("savepoint-timeout", 120_000), c.properties("flink"));
    } catch (BonestreamException e) {
      throw new BonestreamException(name + ": " + e.getMessage());
    }
  }

  /** The signing key's location, if any: a file or an environment variable, not both. */
  private static io.bonestream.operators.publish.SigningKeySource signing(StrictNode n) {
    String file = n.text("private-key-file", null);
    String env = n.text("private-key-env", null);
    if (file != null && env != null) {
      throw n.error("give private-key-file or private-key-env, not both");
    }
    return file != null ? io.bonestream.operators.publish.SigningKeySource.file(file)
        : env != null ? io.bonestream.operators.publish.SigningKeySource.environment(env) : null;
  }

  /**
   * The public key files (as {@code keygen} writes them) whose manifests the job trusts when it reads
   * the adapters topic back, besides its own key's: a previous key after a rotation. Read here, where
   * the job is built; public keys travel with the job as PEM text.
   */
  private static List<String> trustedPublicKeys(StrictNode n) {
    return publicKeyFiles(n, "trusted-public-keys");
  }

  /** The text of the public key files listed under {@code key}, each checked to hold an Ed25519 key. */
  private static List<String> publicKeyFiles(StrictNode n, String key) {
    List<String> pems = new ArrayList<>();
    for (String file : n.strings(key, List.of())) {
      try {
        String pem = Files.readString(Path.of(file));
        if (pem.contains("PRIVATE KEY")) { // its text would travel with the job: refused, not stripped
          throw n.error(key + ": " + file + " holds a private key; give its public key file (.pub)");
        }
        pems.add(io.bonestream.schemas.SigningKeys.publicPem(
            io.bonestream.schemas.SigningKeys.publicKey(pem, file))); // refused unless it holds an Ed25519 key
      } catch (IllegalArgumentException e) {
        throw n.error(key + ": " + e.getMessage());
      } catch (IOException e) {
        throw n.error(key + ": cannot read " + file + ": " + e.getMessage());
      }
    }
    return pems;
  }

  /**
   * Which control records the job acts on: with {@code public-keys} (files as {@code keygen} writes
   * them), only requests signed with one of their keys and at most {@code max-age} old (1 day).
   */
  private static io.bonestream.operators.decode.ControlTrust controlTrust(StrictNode n) {
    List<String> keys = publicKeyFiles(n, "public-keys");
    long maxAge = n.millis("max-age", io.bonestream.operators.decode.ControlTrust.DEFAULT_MAX_AGE.toMillis());
    if (maxAge <= 0) {
      throw n.error("max-age must be positive");
    }
    if (keys.isEmpty() && n.has("max-age")) {
      throw n.error("max-age applies to signed control records: give public-keys too");
    }
    return new io.bonestream.operators.decode.ControlTrust(keys, java.time.Duration.ofMillis(maxAge));
  }

  /** Where training runs; with {@code check}, a GPU backend is opened here, so a missing GPU or library is one error line. */
  private static BackendSpec backend(StrictNode c, boolean check) {
    BackendSpec spec = BackendSpec.parse(c.text("backend", "cpu"), c.text("precision", "bf16"))
        .withRecompute(c.bool("recompute", false));
    if (check) {
      Backends.check(spec);
    }
    return spec;
  }

  /** An adapter profile; an override starts from the defaults and may also hold {@code match}. */
  private static AdapterProfile profile(StrictNode n, AdapterProfile base, boolean override) {
    List<String> keys = new ArrayList<>(List.of("method", "r", "mini-r", "targets", "lora-alpha", "optimizer", "lr",
        "weight-decay", "beta1", "beta2", "eps", "max-grad-norm", "schedule", "warmup-steps",
        "total-steps", "micro-batch-size", "seed", "eval-fraction", "eval-cap", "gate", "gate-tolerance",
        "anchor", "replay", "drift", "erasure-retrain"));
    if (override) {
      keys.add("match");
    }
    n.allow(keys.toArray(String[]::new));
    AdapterConfig a = base == null ? AdapterConfig.builder().build() : base.adapter();
    TrainConfig t = base == null ? TrainConfig.builder().build() : base.train();
    try {
      AdapterConfig.Builder ab = AdapterConfig.builder()
          .method(n.has("method") ? AdapterMethod.fromId(n.text("method", null)) : a.method())
          .r((int) n.integer("r", a.r()))
          .miniR((int) n.integer("mini-r", a.miniR()))
          .targetModules(n.strings("targets", a.targetModuleNames()));
      if (n.has("lora-alpha")) {
        ab.loraAlpha(n.number("lora-alpha", 0));
      } else if (base != null && !n.has("r")) {
        ab.loraAlpha(a.loraAlpha());
      }
      TrainConfig tc = t.toBuilder()
          .optimizer(n.has("optimizer") ? OptimizerKind.fromId(n.text("optimizer", null)) : t.optimizer())
          .lr(n.number("lr", t.lr()))
          .weightDecay(n.number("weight-decay", t.weightDecay()))
          .beta1(n.number("beta1", t.beta1()))
          .beta2(n.number("beta2", t.beta2()))
          .eps(n.number("eps", t.eps()))
          .maxGradNorm(n.number("max-grad-norm", t.maxGradNorm()))
          .schedule(n.has("schedule") ? ScheduleKind.fromId(n.text("schedule", null)) : t.schedule())
          .warmupSteps(n.integer("warmup-steps", t.warmupSteps()))
          .totalSteps(n.integer("total-steps", t.totalSteps()))
          .batchSize((int) n.integer("micro-batch-size", t.batchSize()))
          .seed(n.integer("seed", t.seed()))
          .build();
      // defaults: no evaluation; with eval-fraction set, 32 held-out records and a 5% gate
      EvalPolicy e = base == null ? new EvalPolicy(0, 32, 0.05, true) : base.eval();
      EvalPolicy ev = new EvalPolicy(n.number("eval-fraction", e.fraction()), (int) n.integer("eval-cap", e.cap()),
          n.number("gate-tolerance", e.tolerance()), n.bool("gate", e.gate()));
      return new AdapterProfile(ab.build(), tc, ev, continual(n, base, tc));
    } catch (BonestreamException e) {
      throw e.getMessage().startsWith(n.file() + ": ") ? e : n.error(e.getMessage());
    }
  }

  /** The anchor file's bounds: it is read here and travels with the job in every profile that names it. */
  static final long ANCHOR_MAX_BYTES = 4L << 20;
  static final int ANCHOR_MAX_LINES = 4096;

  /**
   * A profile's continual-learning guards (docs/continual.md); an override inherits each of
   * {@code anchor}, {@code replay}, {@code drift} and {@code erasure-retrain} from the defaults unless
   * it gives it, and a section given takes the documented defaults for its missing keys.
   */
  private static ContinualPolicy continual(StrictNode n, AdapterProfile base, TrainConfig train) {
    ContinualPolicy c = base == null ? ContinualPolicy.OFF : base.continual();
    ContinualPolicy.Anchor anchor = c.anchor();
    if (n.has("anchor")) {
      StrictNode a = n.section("anchor").allow("enabled", "file", "every-versions", "every-tokens", "max-tokens",
          "tolerance", "gate");
      if (!a.bool("enabled", true)) { // an override turning off the anchor set it would inherit
        if (a.has("file")) {
          throw a.error("give file or enabled: false, not both");
        }
        anchor = ContinualPolicy.Anchor.OFF;
      } else {
        Path file = Path.of(a.requiredText("file"));
        List<String> lines = anchorLines(a, file);
        anchor = checked(a, () -> new ContinualPolicy.Anchor(file.getFileName().toString(), lines,
            (int) a.integer("every-versions", 1), a.integer("every-tokens", 0), a.integer("max-tokens", 16_384),
            a.number("tolerance", 0.10), a.bool("gate", true)));
      }
    }
    ContinualPolicy.Replay replay = c.replay();
    if (n.has("replay")) {
      StrictNode r = n.section("replay").allow("ratio", "capacity", "max-bytes");
      replay = checked(r, () -> new ContinualPolicy.Replay(r.number("ratio", 0.25), (int) r.integer("capacity", 256),
          r.bytes("max-bytes", 4L << 20)));
    }
    ContinualPolicy.Drift drift = c.drift();
    StrictNode d = n.section("drift");
    if (n.has("drift")) {
      d.allow("enabled", "alpha", "k", "min-rise", "sustain", "warmup", "on-drift");
      ContinualPolicy.Drift dflt = ContinualPolicy.Drift.DEFAULT;
      ContinualPolicy.OnDrift onDrift = d.has("on-drift")
          ? checked(d, () -> ContinualPolicy.OnDrift.fromId(d.text("on-drift", null))) : dflt.onDrift();
      drift = checked(d, () -> new ContinualPolicy.Drift(d.bool("enabled", true), d.number("alpha", dflt.alpha()),
          d.number("k", dflt.k()), d.number("min-rise", dflt.minRise()), (int) d.integer("sustain", dflt.sustain()),
          (int) d.integer("warmup", dflt.warmup()), onDrift));
    }
    if (drift.enabled() && drift.onDrift() == ContinualPolicy.OnDrift.REWARM && train.warmupSteps() <= 0) {
      // also when an override inherits rewarm from the defaults but sets warmup-steps: 0
      throw d.errorAt("on-drift", "rewarm needs warmup-steps above 0: re-warming restarts the learning-rate "
          + "schedule, whose warmup would be 0 steps");
    }
    boolean retrain = n.bool("erasure-retrain", c.retrainOnErasure());
    return new ContinualPolicy(anchor, replay, drift, retrain);
  }

  /**
   * The anchor file's non-blank lines, each checked to be a record the parser reads (any of its
   * formats); an error names the file and the line.
   */
  private static List<String> anchorLines(StrictNode a, Path file) {
    String text;
    try {
      long size = Files.size(file);
      if (size > ANCHOR_MAX_BYTES) {
        throw a.errorAt("file", file + " is " + size + " bytes; an anchor file may hold at most "
            + ANCHOR_MAX_BYTES + " bytes (4MiB)");
      }
      text = Files.readString(file);
    } catch (NoSuchFileException e) {
      throw a.errorAt("file", "not found: " + file);
    } catch (IOException e) {
      throw a.errorAt("file", "cannot read " + file + ": " + firstLine(e.getMessage()));
    }
    List<String> lines = new ArrayList<>();
    String[] all = text.split("\r?\n", -1);
    for (int i = 0; i < all.length; i++) {
      String line = all[i].strip();
      if (line.isEmpty()) {
        continue;
      }
      if (lines.size() == ANCHOR_MAX_LINES) {
        throw a.errorAt("file", file + " has more than " + ANCHOR_MAX_LINES + " records (non-blank lines)");
      }
      try {
        RecordParser.read(JSON.readTree(line), RecordParser.Options.DEFAULT);
      } catch (JsonProcessingException e) {
        throw a.errorAt("file", file + " line " + (i + 1) + ": not JSON: " + firstLine(e.getOriginalMessage()));
      } catch (RuntimeException e) {
        throw a.errorAt("file", file + " line " + (i + 1) + ": " + firstLine(e.getMessage()));
      }
      lines.add(line);
    }
    if (lines.isEmpty()) {
      throw a.errorAt("file", file + " holds no records");
    }
    return lines;
  }

  private static final ObjectMapper JSON = new ObjectMapper()
      .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /**
   * A YAML syntax error on one line: where the problem is, and the parser's words without the
   * excerpt of the file it quotes. SnakeYAML's message names the problem's place last
   * ({@code  in 'reader', line 2, column 1:}); Jackson's own location is the last token read,
   * which may be lines earlier.
   */
  static String yamlError(JsonProcessingException e) {
    String message = e.getOriginalMessage() == null ? "" : e.getOriginalMessage();
    String where = "";
    Matcher mark = YAML_MARK.matcher(message);
    while (mark.find()) {
      where = "line " + mark.group(1) + ", column " + mark.group(2) + ": ";
    }
    JsonLocation at = e.getLocation();
    if (where.isEmpty() && at != null && at.getLineNr() > 0) {
      where = "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ";
    }
    // the parser's own lines start at the margin; the quoted excerpt, the caret and the marks are indented
    String what = message.lines().filter(l -> !l.isBlank() && !Character.isWhitespace(l.charAt(0)))
        .map(String::strip).collect(Collectors.joining(": "));
    return where + (what.isEmpty() ? e.getClass().getSimpleName() : what);
  }

  private static final Pattern YAML_MARK = Pattern.compile("(?m)^ in '[^']*', line (\\d+), column (\\d+):");

  private static String firstLine(String message) {
    return message == null ? "" : message.split("\n")[0];
  }

  /** Builds a policy part, an invalid value an error naming the section. */
  private static <T> T checked(StrictNode n, java.util.function.Supplier<T> build) {
    try {
      return build.get();
    } catch (BonestreamException e) {
      throw e.getMessage().startsWith(n.file() + ": ") ? e : n.error(e.getMessage());
    }
  }
}
