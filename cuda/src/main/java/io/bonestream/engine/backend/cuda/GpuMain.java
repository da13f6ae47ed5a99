package io.bonestream.engine.backend.cuda;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.device.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The command line of the lean GPU distribution (no ND4J, no tokenizer, no Flink):
 *
 * <pre>
 * bonestream selftest [--backend cuda|java|cpu] [--precision bf16|fp32] [--model DIR] [--golden DIR] [--task DIR]
 * bonestream bench [--backend cuda|java] [--configs 25M,tinyllama-1.1B,llama3-8B] [--methods bone,bat]
 *                  [--r N] [--batch N] [--seq N] [--steps 6] [--warmup 2] [--precision bf16|fp32]
 *                  [--profile true] [--recompute true]
 * bonestream kernels [--configs llama3-8B] [--r 64] [--reps 20]   (bat's memory-bound kernels, in TB/s)
 * bonestream kernels --compile-only [--arch sm_80,sm_86,sm_89,sm_90,native]   (NVRTC alone, no GPU)
 * bonestream kernels --attention [--configs tinyllama-1.1B] [--batch N] [--seq N] [--reps 20]
 *                    (fused attention, tensor cores against CUDA cores, in TFLOP/s)
 * </pre>
 *
 * selftest's precision defaults to bf16, fp32 for {@code cpu} (the CPU device computes in float32 only).
 *
 * Exit codes: 0 success (PASS), 1 failure (FAIL, or a runtime error), 2 usage error.
 */
public final class GpuMain {
  private static final Map<String, Set<String>> OPTIONS = Map.of(
      "selftest", Set.of("backend", "precision", "model", "golden", "task"),
      "bench", Set.of("backend", "configs", "config", "methods", "method", "r", "batch", "seq", "steps", "warmup",
          "precision", "profile", "recompute"),
      "kernels", Set.of("configs", "config", "r", "reps", "compile-only", "arch", "attention", "batch", "seq"));

  private GpuMain() {}

  public static void main(String[] args) {
    System.exit(run(args));
  }

  public static int run(String[] args) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
      System.out.println("usage: bonestream selftest|bench|kernels [options]  (see docs/gpu.md)");
      return args.length == 0 ? 2 : 0;
    }
    Map<String, String> o;
    try {
      o = GpuOptions.parse(args, 1, OPTIONS.getOrDefault(args[0], Set.of()));
    } catch (GpuOptions.UsageException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    try {
      return switch (args[0]) {
        case "selftest" -> selftest(o);
        case "bench" -> bench(o);
        case "kernels" -> kernels(o);
        default -> {
          System.err.println("error: unknown command '" + args[0] + "' (this distribution has: selftest, bench, kernels)");
          yield 2;
        }
      };
    } catch (GpuOptions.UsageException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    } catch (BonestreamException e) {
      System.err.println("error: " + e.getMessage());
      return 1;
    } catch (RuntimeException e) {
      System.err.println("error: " + e);
      if ("1".equals(System.getenv("BONESTREAM_DEBUG"))) {
        e.printStackTrace();
      }
      return 1;
    }
  }

  private static int selftest(Map<String, String> o) {
    String backend = o.getOrDefault("backend", "cuda");
    Precision p = Precision.fromId(o.getOrDefault("precision", backend.equals("cpu") ? "fp32" : "bf16"));
    if (backend.equals("cpu") && p != Precision.FP32) {
      throw new GpuOptions.UsageException("the cpu backend computes in float32 only: --precision fp32");
    }
    Path model = Paths.get(o.getOrDefault("model", home("models/stories260K", "models/stories260K")));
    Path golden = Paths.get(o.getOrDefault("golden", home("golden", "engine/src/test/resources/golden")));
    Path task = Paths.get(o.getOrDefault("task", home("task", "engine/src/test/resources/task")));
    try (Device d = Devices.open(backend)) {
      return Selftest.run(d, p, model, golden, task, System.out) ? 0 : 1;
    }
  }

  private static int bench(Map<String, String> o) {
    Precision p = Precision.fromId(o.getOrDefault("precision", "bf16"));
    String[] configs = o.getOrDefault("configs", o.getOrDefault("config", "25M")).split(",");
    String[] methods = o.getOrDefault("methods", o.getOrDefault("method", "bone")).split(",");
    int warmup = Integer.parseInt(o.getOrDefault("warmup", "2"));
    int steps = Integer.parseInt(o.getOrDefault("steps", "6"));
    try (Device d = Devices.open(o.getOrDefault("backend", "cuda"))) {
      System.out.println("device: " + d.describe());
      double rate = GpuBench.bf16Rate(d);
      System.out.printf(Locale.ROOT, "bf16 GEMM rate in this process: %.1f TFLOP/s%n", rate);
      for (String name : configs) {
        GpuBench.Shape s = GpuBench.shape(name.trim());
        for (String m : methods) {
          int r = Integer.parseInt(o.getOrDefault("r", "" + s.r()));
          int batch = Integer.parseInt(o.getOrDefault("batch", "" + s.batch()));
          int seq = Integer.parseInt(o.getOrDefault("seq", "" + s.seq()));
          try {
            GpuBench.Result res = GpuBench.run(d, s, AdapterMethod.fromId(m.trim()), r, p,
                Boolean.parseBoolean(o.getOrDefault("recompute", "false")), batch, seq, warmup, steps, rate,
                Boolean.parseBoolean(o.getOrDefault("profile", "false")) ? System.out : null);
            System.out.println(res.json());
          } catch (RuntimeException e) {
            System.out.println("{\"impl\":\"bonestream-cuda\",\"config\":\"" + name.trim() + "\",\"method\":\"" + m.trim()
                + "\",\"batch\":" + batch + ",\"seq\":" + seq + ",\"error\":\""
                + String.valueOf(e.getMessage()).replace('"', '\'').replace('\\', '/') + "\"}");
          }
          System.out.flush();
        }
      }
    }
    return 0;
  }

  private static int kernels(Map<String, String> o) {
    if (Boolean.parseBoolean(o.getOrDefault("compile-only", "false"))) {
      List<String> archs = ArchList.parse(o.getOrDefault("arch", ArchList.DEFAULT), () -> GpuPresence.probe().arch());
      return ArchCheck.run(archs, System.out) ? 0 : 1;
    }
    if (o.containsKey("arch")) {
      throw new GpuOptions.UsageException("--arch goes with --compile-only");
    }
    String[] configs = o.getOrDefault("configs", o.getOrDefault("config", "llama3-8B")).split(",");
    int reps = Integer.parseInt(o.getOrDefault("reps", "20"));
    if (Boolean.parseBoolean(o.getOrDefault("attention", "false"))) {
      return attentionKernels(o, configs, reps);
    }
    if (o.containsKey("batch") || o.containsKey("seq")) {
      throw new GpuOptions.UsageException("--batch and --seq go with --attention");
    }
    for (String name : configs) {
      GpuBench.Shape s = GpuBench.shape(name.trim()); // usage errors before any GPU is looked for
      int r = Integer.parseInt(o.getOrDefault("r", "" + s.r()));
      if (r != 32 && r != 64 && r != 128) {
        throw new BonestreamException("--r must be 32, 64 or 128 (the widths of the tensor-core kernels), got " + r);
      }
    }
    if (reps < 1) {
      throw new BonestreamException("--reps must be at least 1, got " + reps);
    }
    try (Device d = Devices.open("cuda")) {
      for (String name : configs) {
        GpuBench.Shape s = GpuBench.shape(name.trim());
        KernelBench.run((CudaDevice) d, s, Integer.parseInt(o.getOrDefault("r", "" + s.r())), reps, System.out);
      }
    }
    return 0;
  }

  private static int attentionKernels(Map<String, String> o, String[] configs, int reps) {
    if (o.containsKey("r")) {
      throw new GpuOptions.UsageException("--r does not go with --attention");
    }
    for (String name : configs) {
      GpuBench.Shape s = GpuBench.shape(name.trim()); // usage errors before any GPU is looked for
      if (number(o, "batch", s.batch()) < 1 || number(o, "seq", s.seq()) < 1 || reps < 1) {
        throw new BonestreamException("--batch, --seq and --reps must be at least 1");
      }
    }
    try (Device d = Devices.open("cuda")) {
      for (String name : configs) {
        GpuBench.Shape s = GpuBench.shape(name.trim());
        AttentionBench.run((CudaDevice) d, s, number(o, "batch", s.batch()), number(o, "seq", s.seq()), reps,
            System.out);
      }
    }
    return 0;
  }

  private static int number(Map<String, String> o, String key, int fallback) {
    try {
      return Integer.parseInt(o.getOrDefault(key, "" + fallback));
    } catch (NumberFormatException e) {
      throw new GpuOptions.UsageException("--" + key + " must be a number, got " + o.get(key));
    }
  }

  /** A path under the distribution ($BONESTREAM_HOME), else the repository's, found upward. */
  private static String home(String inBundle, String inRepo) {
    String h = System.getProperty("bonestream.home", System.getenv("BONESTREAM_HOME"));
    if (h != null && Files.exists(Paths.get(h, inBundle))) {
      return Paths.get(h, inBundle).toString();
    }
    if (h != null && Files.exists(Paths.get(h, inRepo))) { // ./bonestream's home: the repository, from any folder
      return Paths.get(h, inRepo).toString();
    }
    for (Path dir = Paths.get("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.exists(dir.resolve(inRepo))) {
        return dir.resolve(inRepo).toString();
      }
    }
    return inBundle;
  }
}
