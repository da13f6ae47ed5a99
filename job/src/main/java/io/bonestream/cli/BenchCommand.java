package io.bonestream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.backend.cpu.CpuBackends;
import io.bonestream.engine.backend.device.TimedDevice;
import io.bonestream.engine.bench.TrainBenchmark.Shape;
import io.bonestream.engine.bench.TrainBenchmark;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.util.Threads;
import io.bonestream.operators.decode.DecodeBench;
import io.bonestream.operators.train.ContinualBench;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Measures training speed: tokens/s of AdamW steps on random tokens, and the",
        "fraction of this machine's float32 GEMM rate the step reaches (measured in the same run).",
        "Prints one JSON line per measurement, then a table. Configs: stories260K (the bundled",
        "model, 8 x 256, r 4), 25M (the reference PyTorch benchmark's model, 8 x 256, r 32), 110M",
        "(hidden 768, 12 layers, 4 x 256, r 32); --dim etc. give a custom random model.",
        "--compare-torch runs the PyTorch reference (bench_torch.py) right after each measurement",
        "on the same shape and threads and prints the ratio; --repeat N alternates the two N times.",
        "--memory, --streaming, --decode and --continual measure other things (see each)."})
final class BenchCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--model", paramLabel = "DIR", description = "a model folder instead of a named config")
  Path model;

  @Option(names = {"--configs", "--config"}, paramLabel = "NAME[,NAME]", split = ",",
      description = "cpu: stories260K, 25M, 110M; cuda: 25M, tinyllama-1.1B, llama3-8B (default: 25M)")
  List<String> configs;

  @Option(names = "--dim", description = "random model: hidden size (with --layers ... --vocab: a custom shape)")
  Integer dim;

  @Option(names = "--layers", description = "a custom model's layers (default: 25M's)")
  Integer layers;

  @Option(names = "--heads", description = "a custom model's attention heads (default: 25M's)")
  Integer heads;

  @Option(names = "--kv-heads", description = "a custom model's key/value heads (default: --heads, else 25M's)")
  Integer kvHeads;

  @Option(names = "--hidden", description = "intermediate size")
  Integer hidden;

  @Option(names = "--vocab", description = "a custom model's vocabulary size (default: 25M's)")
  Integer vocab;

  @Option(names = "--batch", description = "sequences per step (default: the config's)")
  Integer batch;

  @Option(names = "--seq", description = "tokens per sequence (default: the config's)")
  Integer seq;

  @Option(names = {"--methods", "--method"}, split = ",", paramLabel = "M[,M]", converter = Converters.Method.class,
      description = "bat, bone, lora (default: bone)")
  List<AdapterMethod> methods;

  @Option(names = "--r", description = "block size (bat, bone) or rank (lora) (default: the config's)")
  Integer r;

  @Option(names = "--steps", defaultValue = "5", description = "timed steps (default: ${DEFAULT-VALUE})")
  int steps;

  @Option(names = "--warmup", defaultValue = "2", description = "untimed steps first (default: ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--threads", defaultValue = "0", description = "compute threads; 0 = auto: 1 below hidden size 512, else one per core")
  int threads;

  @Option(names = "--backend", defaultValue = "cpu", paramLabel = "cpu|nd4j|cuda",
      description = "cpu; nd4j: the ND4J reference engine (what cpu was before the CPU device); cuda: "
          + "random models generated on the GPU (default: ${DEFAULT-VALUE})")
  String backend;

  @Option(names = "--profile", description = "cpu: also time one step operation by operation")
  boolean profile;

  @Option(names = "--compare-torch", paramLabel = "FILE", description = "the PyTorch reference's bench_torch.py")
  Path torchScript;

  @Option(names = "--python", defaultValue = "python3", description = "the Python of --compare-torch (default: ${DEFAULT-VALUE})")
  String python;

  @Option(names = "--repeat", defaultValue = "1", description = "measurements per config and method (default: ${DEFAULT-VALUE})")
  int repeat;

  @Option(names = "--precision", defaultValue = "bf16", paramLabel = "bf16|fp32", description = "cuda only")
  String precision;

  @Option(names = "--recompute", description = "cpu, cuda: recompute each layer's activations in the backward pass")
  boolean recompute;

  @Option(names = "--memory", split = ",", paramLabel = "N[,N]",
      description = "instead of speed: heap and native memory with N live trainers (one step each), and the "
          + "training states a checkpoint writes for them")
  int[] memory;

  @Option(names = "--streaming", paramLabel = "STEPS",
      description = "instead of speed: STEPS steps through Kafka -> Flink -> the training operator against the "
          + "engine alone, and each version's freshness at the subscriber (named configs run as a random model folder)")
  Integer streaming;

  @Option(names = "--decode", paramLabel = "RECORDS",
      description = "instead of speed: the job's decode step (decode, validate, tokenize) on RECORDS records per "
          + "format and shape, Avro InstructionRecords against the same content as JSON (prompt-response, chat, alpaca): "
          + "records/s of each (by the decoding thread's CPU time, and by the clock) and the JSON/Avro ratio; "
          + "--warmup and --steps count rounds, --seq is max-seq-len "
          + "(default 256), --model the tokenizer's model (default stories260K)")
  Integer decode;

  @Option(names = "--continual", paramLabel = "STEPS",
      description = "instead of speed: the cost of the continual-learning guards on one adapter of the demo's profile "
          + "(bat r 4 unless --methods/--r, AdamW, 8 examples of examples/colors.jsonl per step unless --batch, "
          + "micro-batches of 4, --seq is max-seq-len, default 128): the plain step against a step with replay "
          + "(ratio 0.25, the reservoir decoded from and encoded to its state bytes at capacity 256) and with "
          + "replay + drift (the fresh loss from the step's forward pass), taking turns for STEPS rounds after --warmup, in 5 blocks "
          + "(--repeat N: N) whose median is reported; the anchor set (examples/anchor-stories.jsonl) scored once "
          + "per block, and per step with a snapshot every 10 steps; and what each guard keeps per adapter (reservoir "
          + "bytes, erasure-retrain's version state) against the adapter's training state, and the anchor set per "
          + "profile. --model the model folder (default stories260K)")
  Integer continual;

  @Option(names = "--snapshot-every", defaultValue = "2", description = "--streaming: a version every N steps (default: ${DEFAULT-VALUE})")
  int snapshotEvery;

  @Option(names = "--checkpoint-ms", defaultValue = "1000", description = "--streaming: checkpoint interval (default: ${DEFAULT-VALUE})")
  long checkpointMs;

  @Option(names = "--rate", defaultValue = "0", paramLabel = "RECORDS/S",
      description = "--streaming: produce the records at this rate while the job runs (a live stream) instead of "
          + "all before it starts (a backlog; default)")
  double rate;

  @Option(names = "--flink", paramLabel = "KEY=VALUE", description = "--streaming: a Flink setting (repeatable)")
  Map<String, String> flinkSettings = new java.util.LinkedHashMap<>();

  /** One measurement and the PyTorch one right after it. */
  private record Row(String config, String method, TrainBenchmark.Result ours, JsonNode torch) {
    double ratio() {
      return torch == null ? Double.NaN : ours.tokensPerSecond() / torch.get("tokens_per_s").asDouble();
    }
  }

  @Override
  public Integer call() throws Exception {
    if (backend.equals("cuda")) {
      return cuda();
    }
    if (!backend.equals("cpu") && !backend.equals("nd4j")) {
      throw new BonestreamException("unknown backend '" + backend + "' (known: cpu, nd4j, cuda)");
    }
    if (recompute && backend.equals("nd4j")) {
      throw new BonestreamException("--recompute applies to the cpu and cuda backends, not nd4j");
    }
    if ((batch != null && batch <= 0) || (seq != null && seq <= 1) || steps <= 0 || warmup < 0 || repeat <= 0) {
      throw new BonestreamException("--batch, --steps, --repeat must be positive, --seq at least 2, --warmup ≥ 0");
    }
    if (torchScript != null && !Files.isRegularFile(torchScript)) {
      throw new BonestreamException("--compare-torch: no such file: " + torchScript);
    }
    PrintWriter out = spec.commandLine().getOut();
    List<AdapterMethod> ms = methods == null ? List.of(AdapterMethod.BONE) : methods;
    if (memory != null) {
      return memory(out, ms);
    }
    if (streaming != null) {
      return streaming(out, ms);
    }
    if (decode != null) {
      return decode(out);
    }
    if (continual != null) {
      return continual(out);
    }
    List<Row> rows = new ArrayList<>();
    for (String name : names()) {
      Shape shape = shape(name);
      BaseModel base = isFolder(name) ? BaseModel.load(modelDir(name)) : TrainBenchmark.randomModel(shape);
      int t = Threads.auto(threads, shape.hidden());
      Threads.configure(t);
      t = Threads.count();
      for (AdapterMethod m : ms) {
        AdapterConfig adapter = AdapterConfig.builder().method(m).r(shape.r()).build();
        for (int i = 0; i < repeat; i++) {
          TrainBenchmark.Result res = TrainBenchmark.run(base, adapter, shape.batch(), shape.seq(), warmup, steps, t,
              backend.equals("nd4j") ? BackendFactory.ND4J : (b, a, c) -> CpuBackends.open(b, a, c, recompute),
              backend);
          ObjectNode json = Json.MAPPER.valueToTree(res);
          json.put("config", name);
          out.println(Json.toCompactString(json));
          out.flush();
          JsonNode torch = null;
          if (torchScript != null) {
            torch = torch(shape, m, t);
            ((ObjectNode) torch).put("config", name);
            out.println(Json.toCompactString(torch));
            out.flush();
          }
          rows.add(new Row(name, m.id(), res, torch));
        }
        if (profile && backend.equals("cpu")) {
          printProfile(out, name, m, TrainBenchmark.profile(base, adapter, shape.batch(), shape.seq(), recompute));
        }
      }
    }
    printTable(out, rows);
    return 0;
  }

  private int memory(PrintWriter out, List<AdapterMethod> ms) {
    List<String> table = new ArrayList<>();
    for (String name : names()) {
      Shape shape = shape(name);
      BaseModel base = isFolder(name) ? BaseModel.load(modelDir(name)) : TrainBenchmark.randomModel(shape);
      Threads.configure(Threads.auto(threads, shape.hidden()));
      for (AdapterMethod m : ms) {
        List<io.bonestream.engine.bench.MemoryBenchmark.Result> res = io.bonestream.engine.bench.MemoryBenchmark.run(
            base, AdapterConfig.builder().method(m).r(shape.r()).build(), shape.batch(), shape.seq(), memory);
        io.bonestream.engine.bench.MemoryBenchmark.Result zero = res.get(0);
        for (io.bonestream.engine.bench.MemoryBenchmark.Result x : res) {
          ObjectNode json = Json.MAPPER.valueToTree(x);
          json.put("config", name);
          out.println(Json.toCompactString(json));
          if (x.adapters() > 0) {
            double perAdapter = (double) (x.total() - zero.total()) / x.adapters();
            double paramBytes = (double) x.parameterBytes() / x.adapters();
            table.add(String.format(java.util.Locale.ROOT,
                "| %s | %s | %d | %.2f | %.1f | %.1f | %.1f | %.2f | %.2f× | %.1f | %.3f |", name, m.id(), x.adapters(),
                paramBytes / 1e6, x.heapBytes() / 1e6, (x.nativeBytes() + x.deviceBytes()) / 1e6, x.rssBytes() / 1e6,
                perAdapter / 1e6, perAdapter / paramBytes, x.stateBytes() / 1e6, x.encodeSeconds()));
          } else {
            table.add(String.format(java.util.Locale.ROOT, "| %s | %s | 0 (base + workspace) | | %.1f | %.1f | %.1f | | | | |",
                name, m.id(), x.heapBytes() / 1e6, (x.nativeBytes() + x.deviceBytes()) / 1e6, x.rssBytes() / 1e6));
          }
        }
        out.flush();
      }
    }
    out.println();
    out.println("| config | method | adapters | params MB/adapter | heap MB | native MB | RSS MB | MB per adapter "
        + "| × params | checkpoint MB | encode s |");
    out.println("|---|---|---|---|---|---|---|---|---|---|---|");
    table.forEach(out::println);
    out.flush();
    return 0;
  }

  private int streaming(PrintWriter out, List<AdapterMethod> ms) throws Exception {
    if (snapshotEvery <= 0 || streaming < snapshotEvery || checkpointMs < 10 || rate < 0 || !Double.isFinite(rate)) {
      throw new BonestreamException("--streaming STEPS must be at least --snapshot-every (a positive number of steps), "
          + "--checkpoint-ms at least 10 and --rate a number of records per second (0: a backlog)");
    }
    List<String> table = new ArrayList<>();
    for (String name : names()) {
      Shape shape = shape(name);
      Threads.configure(Threads.auto(threads, shape.hidden()));
      for (AdapterMethod m : ms) {
        boolean folder = isFolder(name);
        Path dir = folder ? modelDir(name) : io.bonestream.job.StreamingBench.randomModelFolder(shape,
            modelDir("stories260K"));
        io.bonestream.job.StreamingBench.Result r;
        try {
          r = io.bonestream.job.StreamingBench.run(dir, AdapterConfig.builder().method(m).r(shape.r()).build(),
              shape.batch(), shape.seq(), streaming, snapshotEvery, checkpointMs, rate, flinkSettings, out);
        } finally {
          if (!folder) {
            io.bonestream.core.util.FileTrees.delete(dir.getParent());
          }
        }
        ObjectNode json = Json.MAPPER.valueToTree(r);
        json.put("config", name);
        out.println(Json.toCompactString(json));
        out.flush();
        table.add(String.format(java.util.Locale.ROOT, "| %s | %s | %d×%d | %d | %s | %.0f | %.0f | %.3f | %d | %d | %.2f | %.2f | %.2f |",
            name, m.id(), r.batch(), r.seq(), r.steps(), rate > 0 ? String.format(java.util.Locale.ROOT, "%.1f/s", rate)
                : "backlog", r.streamingTokensPerSecond(), r.engineTokensPerSecond(),
            r.ratio(), r.versions(), r.checkpointIntervalMs(), r.freshnessP50Seconds(), r.freshnessP99Seconds(),
            r.freshnessMaxSeconds()));
      }
    }
    out.println();
    out.println("| config | method | batch | steps | records | streaming tokens/s | engine tokens/s | ratio | versions "
        + "| checkpoint ms | freshness p50 s | p99 s | max s |");
    out.println("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    table.forEach(out::println);
    out.flush();
    return 0;
  }

  private int decode(PrintWriter out) {
    if (decode <= 0) {
      throw new BonestreamException("--decode RECORDS must be positive");
    }
    Path dir = model != null ? model : modelDir("stories260K");
    int maxSeqLen = seq != null ? seq : 256;
    List<DecodeBench.Result> results = DecodeBench.run(dir, maxSeqLen, decode, warmup, steps,
        List.of(DecodeBench.Shape.values()));
    for (DecodeBench.Result r : results) {
      ObjectNode json = Json.MAPPER.valueToTree(r);
      json.put("model", dir.getFileName().toString());
      json.put("maxSeqLen", maxSeqLen);
      out.println(Json.toCompactString(json));
    }
    out.println();
    out.println("| shape | records × rounds | Avro records/s | JSON records/s | JSON ÷ Avro (rounds) | by the clock: "
        + "Avro, JSON records/s, ratio | Avro bytes | JSON bytes | tokens | format only: Avro µs | JSON µs |");
    out.println("|---|---|---|---|---|---|---|---|---|---|---|");
    for (DecodeBench.Result r : results) {
      out.printf(java.util.Locale.ROOT, "| %s | %d × %d | %.0f | %.0f | %.3f (%.3f–%.3f) | %.0f, %.0f, %.3f | %.0f | %.0f "
          + "| %.1f | %.2f | %.2f |%n", r.shape(), r.records(), r.rounds(), r.avroRecordsPerSecond(),
          r.jsonRecordsPerSecond(), r.jsonOverAvro(), r.jsonOverAvroMin(), r.jsonOverAvroMax(),
          r.avroWallRecordsPerSecond(), r.jsonWallRecordsPerSecond(), r.wallJsonOverAvro(), r.avroBytes(),
          r.jsonBytes(), r.tokensPerRecord(), r.avroFormatMicros(), r.jsonFormatMicros());
    }
    out.flush();
    return 0;
  }

  private int continual(PrintWriter out) {
    if (continual <= 0) {
      throw new BonestreamException("--continual STEPS must be positive");
    }
    int repeats = repeat > 1 ? repeat : 5;
    if (continual < repeats) {
      throw new BonestreamException("--continual STEPS must be at least the number of blocks (" + repeats + ")");
    }
    Path dir = model != null ? model : modelDir("stories260K");
    Path home = Path.of(System.getProperty("bonestream.home", "."));
    if (!Files.isDirectory(home.resolve("examples")) && dir.toAbsolutePath().getParent() != null
        && Files.isDirectory(dir.toAbsolutePath().getParent().resolveSibling("examples"))) {
      home = dir.toAbsolutePath().getParent().getParent(); // the installation the model folder is in (models/NAME)
    }
    int maxSeqLen = seq != null ? seq : 128;
    int examples = batch != null ? batch : 8;
    Threads.configure(Threads.auto(threads, io.bonestream.core.model.ModelConfig.read(dir).hiddenSize()));
    out.println("$ bonestream " + String.join(" ", spec.commandLine().getParseResult().originalArgs()));
    List<ContinualBench.Result> results = new ArrayList<>();
    for (AdapterMethod m : methods == null ? List.of(AdapterMethod.BAT) : methods) {
      ContinualBench.Setup setup = new ContinualBench.Setup(dir, AdapterConfig.builder().method(m).r(r != null ? r : 4)
          .build(), io.bonestream.engine.config.TrainConfig.builder().lr(1e-4).batchSize(4).maxSeqLen(maxSeqLen)
          .seed(42).build(), examples, home.resolve("examples/colors.jsonl"),
          home.resolve("examples/anchor-stories.jsonl"), 0.25, 256, 4L << 20, 10);
      ContinualBench.Result res = ContinualBench.run(setup, warmup, continual, repeats, BackendFactory.CPU);
      out.println(Json.toCompactString(Json.MAPPER.valueToTree(res)));
      out.flush();
      results.add(res);
    }
    for (ContinualBench.Result x : results) {
      out.println();
      out.printf(java.util.Locale.ROOT, "%s, %s r %d, %d examples per step (%.1f tokens), micro-batches of %d, "
          + "max-seq-len %d; %d rounds in %d blocks after %d warm-up rounds; threads %d%n", x.model(), x.method(),
          x.r(), x.batch(), x.freshTokensPerStep(), x.microBatch(), x.maxSeqLen(), x.steps(), x.repeats(),
          x.warmup(), Threads.count());
      out.println();
      out.println("| step time | ms | × plain step (median, min–max over blocks) |");
      out.println("|---|---|---|");
      out.printf(java.util.Locale.ROOT, "| (a) plain step | %.2f | 1.00× |%n", 1e3 * x.plainSeconds());
      out.printf(java.util.Locale.ROOT, "| (b) replay 0.25 (%d replays per step), reservoir decode + encode at %d of %d "
          + "| %.2f | %.2f× (%.2f–%.2f) |%n", x.replaysPerStep(), x.reservoirSize(), x.capacity(),
          1e3 * x.replaySeconds(), x.replayRatio(), x.replayRatioMin(), x.replayRatioMax());
      out.printf(java.util.Locale.ROOT, "| &nbsp;&nbsp;of which reservoir decode + encode | %.3f | %.3f× |%n",
          1e3 * x.reservoirCodecSeconds(), x.reservoirCodecSeconds() / x.plainSeconds());
      out.printf(java.util.Locale.ROOT, "| (c) replay + drift (the fresh examples' loss from the step's own forward pass) | %.2f "
          + "| %.2f× (%.2f–%.2f) |%n", 1e3 * x.replayDriftSeconds(), x.replayDriftRatio(), x.replayDriftRatioMin(),
          x.replayDriftRatioMax());
      out.printf(java.util.Locale.ROOT, "| (d) anchor scoring, %d records (%d tokens), per scored snapshot | %.2f "
          + "| %.2f× |%n", x.anchorExamples(), x.anchorTokens(), 1e3 * x.anchorSeconds(),
          x.anchorSeconds() / x.plainSeconds());
      out.printf(java.util.Locale.ROOT, "| &nbsp;&nbsp;per step, a snapshot every %d steps | %.3f | %.3f× |%n",
          x.everySteps(), 1e3 * x.anchorPerStepSeconds(), x.anchorPerStepRatio());
      out.printf(java.util.Locale.ROOT, "| erasure-retrain: the version state encoded, per version | %.3f | %.3f× |%n",
          1e3 * x.versionStateSeconds(), x.versionStateSeconds() / x.plainSeconds());
      out.printf(java.util.Locale.ROOT, "| &nbsp;&nbsp;per step, a version every %d steps | %.4f | %.4f× |%n",
          x.everySteps(), 1e3 * x.versionStatePerStepSeconds(), x.versionStatePerStepSeconds() / x.plainSeconds());
      out.printf(java.util.Locale.ROOT, "| erasure-retrain: the ids trained since the version recorded, per step | %.4f "
          + "| %.4f× |%n", 1e3 * x.trainedRecordSeconds(), x.trainedRecordSeconds() / x.plainSeconds());
      out.println();
      double state = x.trainingStateBytes();
      out.println("| state | bytes | × training state | kept |");
      out.println("|---|---|---|---|");
      out.printf(java.util.Locale.ROOT, "| adapter training state (tensors, AdamW moments, counters) | %d | 1.00× "
          + "| per adapter |%n", x.trainingStateBytes());
      out.printf(java.util.Locale.ROOT, "| &nbsp;&nbsp;of which adapter parameters | %d | %.2f× | |%n",
          x.adapterParameterBytes(), x.adapterParameterBytes() / state);
      out.printf(java.util.Locale.ROOT, "| replay reservoir, keyed-state bytes (%d of %d examples) | %d | %.2f× "
          + "| per adapter |%n", x.reservoirSize(), x.capacity(), x.reservoirStateBytes(),
          x.reservoirStateBytes() / state);
      out.printf(java.util.Locale.ROOT, "| &nbsp;&nbsp;its own count (against max-bytes %d) | %d | %.2f× | |%n",
          x.maxBytes(), x.reservoirBytes(), x.reservoirBytes() / state);
      out.printf(java.util.Locale.ROOT, "| erasure-retrain version state | %d | %.2f× | per adapter |%n",
          x.versionStateBytes(), x.versionStateBytes() / state);
      out.printf(java.util.Locale.ROOT, "| erasure-retrain record of the ids trained since the version (at a version) "
          + "| %d | %.2f× | per adapter |%n", x.trainedRecordBytes(), x.trainedRecordBytes() / state);
      out.printf(java.util.Locale.ROOT, "| anchor set tokens (ids + labels, %d records) | %d | %.2f× "
          + "| per profile, shared by its adapters |%n", x.anchorExamples(), x.anchorTokenBytes(),
          x.anchorTokenBytes() / state);
    }
    out.flush();
    return 0;
  }

  private List<String> names() {
    if (model != null) {
      return List.of(model.getFileName().toString());
    }
    if (dim != null || layers != null || heads != null || kvHeads != null || hidden != null || vocab != null) {
      return List.of("custom");
    }
    return configs == null ? List.of("25M") : configs;
  }

  /** Whether config {@code name} is a model folder (--model, stories260K), not a shape of random weights. */
  private boolean isFolder(String name) {
    return model != null || name.equalsIgnoreCase("stories260K");
  }

  private Path modelDir(String name) {
    if (model != null) {
      return model;
    }
    // the bundled model's folder; the name in any case
    return Path.of(System.getProperty("bonestream.home", ".")).resolve("models")
        .resolve(name.equalsIgnoreCase("stories260K") ? "stories260K" : name);
  }

  private Shape shape(String name) {
    Shape s;
    if (isFolder(name)) {
      s = Shape.of(name, io.bonestream.core.model.ModelConfig.read(modelDir(name)), 8, 256, 4);
    } else if (name.equals("custom")) {
      Shape d = TrainBenchmark.shape("25M");
      s = new Shape("custom", dim != null ? dim : d.hidden(), hidden != null ? hidden : d.intermediate(),
          layers != null ? layers : d.layers(), heads != null ? heads : d.heads(),
          kvHeads != null ? kvHeads : heads != null ? heads : d.kvHeads(), vocab != null ? vocab : d.vocab(),
          d.batch(), d.seq(), d.r());
    } else {
      s = TrainBenchmark.shape(name);
    }
    return s.with(batch != null ? batch : s.batch(), seq != null ? seq : s.seq(), r != null ? r : s.r());
  }

  /** Runs the PyTorch reference on the same shape, method, batch and threads; its JSON line. */
  private JsonNode torch(Shape s, AdapterMethod m, int threads) throws Exception {
    List<String> cmd = List.of(python, torchScript.toString(), "--dim", "" + s.hidden(), "--layers", "" + s.layers(),
        "--heads", "" + s.heads(), "--kv", "" + s.kvHeads(), "--hidden", "" + s.intermediate(), "--vocab",
        "" + s.vocab(), "--batch", "" + s.batch(), "--seq", "" + s.seq(), "--r", "" + s.r(), "--method", m.id(),
        "--steps", "" + steps, "--warmup", "" + warmup, "--threads", "" + threads);
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String last = null;
    try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("{")) {
          last = line;
        }
      }
    }
    int rc = p.waitFor();
    if (rc != 0 || last == null) {
      throw new BonestreamException("the PyTorch reference failed (exit " + rc + "): " + String.join(" ", cmd));
    }
    return Json.MAPPER.readTree(last);
  }

  private static void printProfile(PrintWriter out, String config, AdapterMethod m, TrainBenchmark.Profile p) {
    out.printf("%nprofile %s %s: one step %.3f s%n", config, m.id(), p.stepSeconds());
    out.println("| operation | calls | ms | share |");
    out.println("|---|---|---|---|");
    double total = p.stepSeconds() * 1e3;
    for (Map.Entry<String, TimedDevice.Tally> e : TrainBenchmark.byTime(p.operations()).entrySet()) {
      double ms = e.getValue().nanos() / 1e6;
      out.printf("| %s | %d | %.1f | %.1f%% |%n", e.getKey(), e.getValue().calls(), ms, 100 * ms / total);
    }
    out.flush();
  }

  private void printTable(PrintWriter out, List<Row> rows) {
    out.println();
    boolean torch = torchScript != null;
    out.println(torch
        ? "| config | method | runs | bonestream tokens/s | GEMM share | PyTorch tokens/s | GEMM share | ratio (median, min–max) |"
        : "| config | method | runs | tokens/s | step s | GEMM share | GEMM GFLOP/s |");
    out.println(torch ? "|---|---|---|---|---|---|---|---|" : "|---|---|---|---|---|---|---|");
    for (int i = 0; i < rows.size(); ) {
      Row first = rows.get(i);
      List<Row> group = new ArrayList<>();
      while (i < rows.size() && rows.get(i).config().equals(first.config()) && rows.get(i).method().equals(first.method())) {
        group.add(rows.get(i++));
      }
      double tps = med(group.stream().mapToDouble(g -> g.ours().tokensPerSecond()).toArray());
      double share = med(group.stream().mapToDouble(g -> g.ours().fractionOfGemm()).toArray());
      if (torch) {
        double[] ratios = group.stream().mapToDouble(Row::ratio).toArray();
        double ttps = med(group.stream().mapToDouble(g -> g.torch().get("tokens_per_s").asDouble()).toArray());
        double tshare = med(group.stream().mapToDouble(g -> g.torch().get("frac_of_gemm").asDouble()).toArray());
        out.printf("| %s | %s | %d | %.1f | %.1f%% | %.1f | %.1f%% | %.2f× (%.2f–%.2f) |%n", first.config(),
            first.method(), group.size(), tps, 100 * share, ttps, 100 * tshare, med(ratios),
            java.util.Arrays.stream(ratios).min().orElse(Double.NaN), java.util.Arrays.stream(ratios).max().orElse(Double.NaN));
      } else {
        double step = med(group.stream().mapToDouble(g -> g.ours().stepSeconds()).toArray());
        double gemm = med(group.stream().mapToDouble(g -> g.ours().gemmGflops()).toArray());
        out.printf("| %s | %s | %d | %.1f | %.3f | %.1f%% | %.0f |%n", first.config(), first.method(), group.size(),
            tps, step, 100 * share, gemm);
      }
    }
    out.flush();
  }

  private static double med(double[] v) {
    return TrainBenchmark.median(v);
  }

  private int cuda() {
    // the GPU bench of bonestream-cuda; --batch/--seq/--r only when given
    List<String> args = new ArrayList<>(List.of("bench", "--backend", "cuda",
        "--configs", String.join(",", configs == null ? List.of("25M") : configs), "--methods",
        String.join(",", (methods == null ? List.of(AdapterMethod.BONE) : methods).stream().map(AdapterMethod::id).toList()),
        "--precision", precision, "--steps", "" + steps, "--warmup", "" + warmup, "--recompute", "" + recompute));
    if (batch != null) {
      args.addAll(List.of("--batch", "" + batch));
    }
    if (seq != null) {
      args.addAll(List.of("--seq", "" + seq));
    }
    if (r != null) {
      args.addAll(List.of("--r", "" + r));
    }
    return io.bonestream.engine.backend.cuda.GpuMain.run(args.toArray(new String[0]));
  }
}
