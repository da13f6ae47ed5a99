package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code bonestream size}: the GPU plan as before, and with {@code --backend cpu} the native memory
 * of the CPU backend, held to a measurement of what the CPU device really allocates.
 */
@Timeout(120)
class SizeCommandTest {
  @Test
  void theCpuBackendsActivationsAreWhatBenchMemoryMeasured() {
    Cli cli = Cli.run("size", "--config", "25M", "--method", "bone", "--r", "32", "--batch", "4", "--seq", "256",
        "--backend", "cpu");
    assertEquals(0, cli.exitCode(), cli.err());
    Matcher m = Pattern.compile("activations (\\d+\\.\\d+),").matcher(cli.out());
    assertTrue(m.find(), cli.out());
    // `bench --memory 1 --configs 25M --methods bone --batch 4 --seq 256`: the CPU device's buffers
    // at 0 adapters, 321.4 MB (docs/perf-runs/2026-12-06-fused-attention/memory-25M-b4-s256.txt)
    assertEquals(321.4e6 / (1L << 30), Double.parseDouble(m.group(1)), 0.0015, cli.out());
    // the base model as float32: 4 bytes per parameter of the 25M shape (512 wide, 8 layers, MLP
    // 1376, vocabulary 32000, embedding and output untied, two norms per layer and a final one)
    long params = 2L * 32000 * 512 + 8L * (4L * 512 * 512 + 3L * 512 * 1376 + 2 * 512) + 512;
    Matcher w = Pattern.compile("base model \\(float32\\) (\\d+\\.\\d+)").matcher(cli.out());
    assertTrue(w.find(), cli.out());
    assertEquals(4.0 * params / (1L << 30), Double.parseDouble(w.group(1)), 0.0015, cli.out());
  }

  @Test
  void theGpuPlanIsTheDefaultAndBadSettingsAreRefused() {
    Cli gpu = Cli.run("size", "--config", "tinyllama-1.1B", "--batch", "1", "--seq", "256");
    assertEquals(0, gpu.exitCode(), gpu.err());
    assertTrue(gpu.out().contains("GPU:") && gpu.out().contains("bf16"), gpu.out());
    Cli bf16 = Cli.run("size", "--config", "25M", "--backend", "cpu", "--precision", "bf16");
    assertEquals(1, bf16.exitCode());
    assertTrue(bf16.err().contains("the cpu backend computes in float32 only"), bf16.err());
    Cli tpu = Cli.run("size", "--config", "25M", "--backend", "tpu");
    assertEquals(1, tpu.exitCode());
    assertTrue(tpu.err().contains("unknown backend 'tpu' (known: cpu, cuda)"), tpu.err());
  }

  @Test
  void aShapeIsNamedInAnyCaseAndAnUnknownOneListsTheKnown() {
    Cli lower = Cli.run("size", "--config", "tinyllama-1.1B", "--seq", "256");
    Cli mixed = Cli.run("size", "--config", "TinyLlama-1.1B", "--seq", "256");
    assertEquals(0, mixed.exitCode(), mixed.err());
    assertEquals(lower.out(), mixed.out());
    Cli unknown = Cli.run("size", "--config", "llama3-70B");
    assertEquals(1, unknown.exitCode());
    assertTrue(unknown.err().contains("unknown shape 'llama3-70B' (known: 25M, tinyllama-1.1B, llama3-8B)"),
        unknown.err());
  }
}
