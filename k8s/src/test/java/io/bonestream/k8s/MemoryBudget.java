package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.backend.device.MemoryPlan;
import io.bonestream.engine.config.TrainConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessSpec;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;

/**
 * The memory formula of docs/operations.md (Sizing), applied to the model a manifest names in its
 * {@code bonestream.io/sized-for} annotation and to the settings the manifests give (job.yaml's r,
 * micro-batch and sequence length; serve's request bounds). Native memory (ND4J's arrays) lies
 * outside the Java heap, so it needs its own room: the TaskManager's task off-heap memory, serve's
 * limit beyond its heap.
 */
final class MemoryBudget {
  static final long MIB = 1L << 20;
  /** Native libraries (OpenBLAS, JavaCPP, the Rust tokenizer) and their buffers: an allowance. */
  static final long RUNTIME = 256 * MIB;
  /** The fixed part of the activation workspace (bench --memory's intercept: 65 MB for 25M and 110M). */
  static final long WORKSPACE_FIXED = 64 * MIB;
  /** Java's own native memory beside the heap in serve (metaspace, code cache, thread stacks). */
  static final long JVM_NON_HEAP = 256 * MIB;

  /** A model's shape, as the annotation gives it. */
  record Model(String name, long params, long vocab, long layers, long hidden, long intermediate, long heads,
      long kvHeads, long headDim, long adaptersPerTaskManager) {
    long kvWidth() {
      return kvHeads * headDim;
    }
  }

  private static final Pattern PAIR = Pattern.compile("([a-z-]+)=(\\d+)");

  /** The model of a {@code bonestream.io/sized-for} annotation: "NAME key=value ...". */
  static Model model(JsonNode object) {
    String a = object.at("/metadata/annotations/bonestream.io~1sized-for").asText("");
    if (a.isBlank()) {
      throw new AssertionError(object.at("/kind").asText() + " " + object.at("/metadata/name").asText()
          + " has no bonestream.io/sized-for annotation naming the model its memory is sized for");
    }
    Map<String, Long> v = new LinkedHashMap<>();
    Matcher m = PAIR.matcher(a);
    while (m.find()) {
      v.put(m.group(1), Long.parseLong(m.group(2)));
    }
    for (String k : List.of("params", "vocab", "layers", "hidden", "intermediate", "heads", "kv-heads", "head-dim")) {
      if (!v.containsKey(k)) {
        throw new AssertionError("bonestream.io/sized-for lacks " + k + ": " + a);
      }
    }
    return new Model(a.split(" ")[0], v.get("params"), v.get("vocab"), v.get("layers"), v.get("hidden"),
        v.get("intermediate"), v.get("heads"), v.get("kv-heads"), v.get("head-dim"),
        v.getOrDefault("adapters-per-taskmanager", 0L));
  }

  /** Values of one adapter: r × layers × Σ O over the seven targets (q, o, down: d; k, v: kv; gate, up: h). */
  static long adapterValues(Model m, long r) {
    return r * m.layers() * (3 * m.hidden() + 2 * m.kvWidth() + 2 * m.intermediate());
  }

  /**
   * The training activations of one micro-batch of {@code batch} sequences of {@code seq} tokens on
   * the CPU device: the device engine's own plan for that shape ({@code MemoryPlan.onCpu}, what
   * {@code bonestream size --backend cpu} prints), its workspace and
   * the method's scratch, plus {@link #WORKSPACE_FIXED} for what the plan does not count (the CPU
   * device's per-thread attention tiles, OpenBLAS's buffers). Checked against {@code bench --memory}
   * by {@code HardeningTest.theWorkspaceFormulaBoundsTheMeasurements}.
   */
  static long workspace(Model m, AdapterMethod method, int r, int batch, int seq) {
    MemoryPlan plan = MemoryPlan.onCpu(config(m), AdapterConfig.builder().method(method).r(r).build(),
        TrainConfig.builder().batchSize(batch).build(), false, batch, seq);
    return WORKSPACE_FIXED + plan.activationBytes();
  }

  /**
   * Native memory of a TaskManager: runtime, every adapter, and on the CPU the base model (float32)
   * and the workspace; a GPU TaskManager uploads the base from the mapped files and keeps no
   * float32 copy of it (docs/gpu.md).
   */
  static long taskManagerNative(Model m, AdapterMethod method, int r, int batch, int seq, boolean cpu) {
    return RUNTIME + (cpu ? 4 * m.params() + workspace(m, method, r, batch, seq) : 0)
        + m.adaptersPerTaskManager() * 16 * adapterValues(m, r);
  }

  /** What a GPU keeps beside what the device engine allocates: the CUDA context and cuBLAS's workspace. */
  static final long CUDA_RESERVE = 1536 * MIB;

  /** The model of an annotation as a config, for the device engine's memory plan. */
  static ModelConfig config(Model m) {
    ObjectNode c = ModelConfig.llamaJson(Math.toIntExact(m.hidden()), Math.toIntExact(m.intermediate()),
        Math.toIntExact(m.layers()), Math.toIntExact(m.heads()), Math.toIntExact(m.kvHeads()),
        Math.toIntExact(m.vocab()), 131072);
    c.put("head_dim", m.headDim());
    return ModelConfig.fromJson(c, m.name());
  }

  /**
   * A GPU TaskManager's GPU holds one adapter's training step of the named model at job.yaml's
   * method, r, micro-batch, sequence length, precision and recomputation (the device engine's own
   * plan, {@code bonestream size}) and the CUDA reserve, within the deployment's
   * {@code bonestream.io/gpu-memory}.
   */
  static List<String> gpu(Rendered r) {
    List<String> problems = new ArrayList<>();
    JsonNode job = r.jobYaml();
    if (!job.path("backend").asText("cpu").equals("cuda")) {
      return problems;
    }
    String declared = r.flink().at("/metadata/annotations/bonestream.io~1gpu-memory").asText("");
    if (declared.isBlank()) {
      problems.add("a GPU FlinkDeployment must say the GPU memory it is sized for (bonestream.io/gpu-memory)");
      return problems;
    }
    Model m = model(r.flink());
    AdapterConfig adapter = AdapterConfig.builder().method(AdapterMethod.fromId(job.at("/adapter-defaults/method").asText("bat")))
        .r((int) job.at("/adapter-defaults/r").asLong(8)).build();
    int batch = (int) job.at("/adapter-defaults/micro-batch-size").asLong(4);
    int seq = (int) job.path("max-seq-len").asLong(512);
    boolean recompute = job.path("recompute").asBoolean(false);
    MemoryPlan plan = MemoryPlan.of(config(m), adapter, TrainConfig.builder().batchSize(batch).build(),
        Precision.fromId(job.path("precision").asText("bf16")), recompute, batch, seq);
    long need = plan.deviceBytes() + CUDA_RESERVE;
    if (need > quantity(declared)) {
      problems.add("GPU: " + m.name() + " at micro-batch " + batch + " x " + seq + (recompute ? ", recomputing" : "")
          + " needs " + (need / MIB) + " MiB (" + (plan.deviceBytes() / MIB) + " MiB planned + the CUDA reserve), over "
          + declared);
    }
    return problems;
  }

  /**
   * Native memory of one generation in serve: the prompt pass's scores and mask per layer
   * (4·(H+1)·T²), its activations and logits (4·T·(V + 4·(d+h))) and the key/value cache
   * (8·L·kv·T), T the longest prompt plus the most new tokens.
   */
  static long generation(Model m, long tokens) {
    return 4 * ((m.heads() + 1) * tokens * tokens + tokens * (m.vocab() + 4 * (m.hidden() + m.intermediate()))
        + 2 * m.layers() * m.kvWidth() * tokens);
  }

  /** Native memory of serve: runtime, the base model, the merged-weights cache, the generations at once. */
  static long serveNative(Model m, long mergedCache, long concurrency, long tokens) {
    return RUNTIME + 4 * m.params() + mergedCache + concurrency * generation(m, tokens);
  }

  /** Flink's split of a TaskManager's memory, as Flink computes it from the deployment's settings. */
  static TaskExecutorProcessSpec taskManagerSpec(Rendered r) {
    Configuration conf = Configuration.fromMap(r.flinkConfiguration());
    conf.setString("taskmanager.memory.process.size", r.flink().at("/spec/taskManager/resource/memory").asText());
    return TaskExecutorProcessUtils.processSpecFromConfig(conf);
  }

  /** Kubernetes quantities: 4Gi, 512Mi, 4096M, 2G. */
  static long quantity(String q) {
    Matcher m = Pattern.compile("^(\\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$").matcher(q.strip());
    if (!m.matches()) {
      throw new AssertionError("not a memory quantity: " + q);
    }
    long n = Long.parseLong(m.group(1));
    return n * switch (m.group(2) == null ? "" : m.group(2)) {
      case "Ki" -> 1L << 10;
      case "Mi" -> 1L << 20;
      case "Gi" -> 1L << 30;
      case "Ti" -> 1L << 40;
      case "k" -> 1000L;
      case "M" -> 1000_000L;
      case "G" -> 1000_000_000L;
      case "T" -> 1000_000_000_000L;
      default -> 1L;
    };
  }

  /** The TaskManagers' task off-heap memory holds the formula's native memory. */
  static List<String> taskManager(Rendered r) {
    List<String> problems = new ArrayList<>();
    Model m = model(r.flink());
    JsonNode job = r.jobYaml();
    int rank = (int) job.at("/adapter-defaults/r").asLong(8);
    AdapterMethod method = AdapterMethod.fromId(job.at("/adapter-defaults/method").asText("bat"));
    int batch = (int) job.at("/adapter-defaults/micro-batch-size").asLong(4);
    int seq = (int) job.path("max-seq-len").asLong(512);
    boolean cpu = job.path("backend").asText("cpu").equals("cpu");
    long need = taskManagerNative(m, method, rank, batch, seq, cpu);
    // the figures docs/operations.md quotes (Sizing)
    System.out.printf(java.util.Locale.ROOT, "TaskManager native memory for %s (%s, %s r %d, %d x %d, %d adapters):"
        + " %d MiB, of which activations %d MiB%n", m.name(), cpu ? "cpu" : "cuda", method.id(), rank, batch, seq,
        m.adaptersPerTaskManager(), need / MIB, cpu ? workspace(m, method, rank, batch, seq) / MIB : 0);
    TaskExecutorProcessSpec spec;
    try {
      spec = taskManagerSpec(r);
    } catch (RuntimeException e) {
      problems.add("Flink cannot split the TaskManager's memory: " + e.getMessage());
      return problems;
    }
    MemorySize offHeap = spec.getTaskOffHeapSize();
    if (offHeap.getBytes() < need) {
      problems.add("TaskManager: task off-heap " + offHeap.toHumanReadableString() + " < the " + (need / MIB)
          + " MiB of native memory " + m.name() + " needs (r " + rank + ", micro-batch " + batch + " x " + seq
          + ", " + m.adaptersPerTaskManager() + " adapters)");
    }
    if (spec.getTaskHeapSize().getBytes() < 256 * MIB) {
      problems.add("TaskManager: only " + spec.getTaskHeapSize().toHumanReadableString() + " of task heap");
    }
    return problems;
  }

  /** serve's memory limit holds its heap (-Xmx), Java's non-heap and the formula's native memory. */
  static List<String> serve(Rendered r) {
    List<String> problems = new ArrayList<>();
    Model m = model(r.serveDeployment());
    long prompt = Long.parseLong(r.serveArg("--max-prompt-tokens").orElse("2048"));
    long tokens = prompt + Long.parseLong(r.serveArg("--max-tokens").orElse("512"));
    long concurrency = Long.parseLong(r.serveArg("--concurrency").orElse("2"));
    long cache = parseBytes(r.serveArg("--merged-cache").orElse("512MiB"));
    String opts = r.serve().env("JAVA_TOOL_OPTIONS").orElse("");
    Matcher xmx = Pattern.compile("-Xmx(\\d+)([kmgKMG])").matcher(opts);
    if (!xmx.find()) {
      problems.add("serve: no -Xmx in JAVA_TOOL_OPTIONS: the heap would take a share of the limit the native memory needs");
      return problems;
    }
    long heap = Long.parseLong(xmx.group(1)) << switch (xmx.group(2).toLowerCase()) {
      case "k" -> 10;
      case "m" -> 20;
      default -> 30;
    };
    long need = heap + JVM_NON_HEAP + serveNative(m, cache, concurrency, tokens);
    JsonNode limit = r.serve().container().at("/resources/limits/memory");
    if (limit.isMissingNode() || quantity(limit.asText()) < need) {
      problems.add("serve: memory limit " + limit.asText("(none)") + " < the " + (need / MIB) + " MiB " + m.name()
          + " needs (heap " + (heap / MIB) + " MiB, " + concurrency + " generations of " + tokens + " tokens, a "
          + (cache / MIB) + " MiB merged-weights cache)");
    }
    return problems;
  }

  private static long parseBytes(String s) {
    return io.bonestream.core.util.Durations.parseBytes(s, "--merged-cache");
  }
}
