package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.job.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Asking for the cuda backend where it cannot run is one error line naming what is missing, from
 * {@code train}, {@code demo} and {@code run}'s config; these checks need a machine without a usable GPU
 * (CI), and are skipped with the reason on one that has one.
 */
class GpuBackendCliTest {
  private static boolean gpuUsable() {
    try {
      Backends.check(BackendSpec.parse("cuda", "bf16"));
      return true;
    } catch (BonestreamException e) {
      return false;
    }
  }

  @Test
  void trainWithCudaButNoGpuIsOneErrorLine(@TempDir Path out) {
    assumeFalse(gpuUsable(), "a usable GPU is here: this test is about machines without one");
    Cli cli = Cli.run("train", "--model", TestFiles.stories260K().toString(), "--data",
        TestFiles.golden().resolve("tiny_sft.jsonl").toString(), "--method", "bat", "--r", "4", "--steps", "1",
        "--backend", "cuda", "--out", out.toString());
    assertEquals(1, cli.exitCode(), cli.err());
    assertTrue(cli.err().startsWith("error: cuda backend unavailable: "), cli.err());
    assertEquals(1, cli.err().strip().lines().count(), cli.err());
    assertFalse(Files.exists(out.resolve("adapter_model.safetensors")));
  }

  @Test
  void demoWithCudaButNoGpuIsOneErrorLineBeforeTheBrokerStarts() {
    assumeFalse(gpuUsable(), "a usable GPU is here: this test is about machines without one");
    Cli cli = Cli.run("demo", "--backend", "cuda", "--duration", "5s");
    assertEquals(1, cli.exitCode(), cli.err());
    assertTrue(cli.err().startsWith("error: cuda backend unavailable: "), cli.err());
    assertEquals(1, cli.err().strip().lines().count(), cli.err());
    assertFalse(cli.out().contains("starting a Kafka broker"), cli.out());
    Cli tpu = Cli.run("demo", "--backend", "tpu");
    assertEquals(1, tpu.exitCode());
    assertTrue(tpu.err().contains("unknown backend 'tpu' (known: cpu, cuda)"), tpu.err());
  }

  @Test
  void anUnknownBackendIsNamed(@TempDir Path out) {
    Cli cli = Cli.run("train", "--model", TestFiles.stories260K().toString(), "--data",
        TestFiles.golden().resolve("tiny_sft.jsonl").toString(), "--method", "bat", "--r", "4", "--steps", "1",
        "--backend", "tpu", "--out", out.toString());
    assertEquals(1, cli.exitCode());
    assertTrue(cli.err().contains("unknown backend 'tpu' (known: cpu, cuda)"), cli.err());
  }

  @Test
  void kernelsRefusesBadSettingsBeforeLookingForAGpu() {
    Cli width = Cli.run("kernels", "--r", "16");
    assertEquals(1, width.exitCode());
    assertTrue(width.err().contains("--r must be 32, 64 or 128"), width.err());
    Cli config = Cli.run("kernels", "--configs", "llama3-70B");
    assertEquals(1, config.exitCode());
    assertTrue(config.err().contains("unknown bench config 'llama3-70B'"), config.err());
    Cli reps = Cli.run("kernels", "--reps", "0");
    assertEquals(1, reps.exitCode());
    assertTrue(reps.err().contains("--reps must be at least 1"), reps.err());
    Cli seq = Cli.run("kernels", "--seq", "4096");
    assertEquals(1, seq.exitCode());
    assertTrue(seq.err().contains("--batch and --seq go with --attention"), seq.err());
    Cli batch = Cli.run("kernels", "--attention", "--configs", "tinyllama-1.1B", "--batch", "0");
    assertEquals(1, batch.exitCode());
    assertTrue(batch.err().contains("--batch, --seq and --reps must be at least 1"), batch.err());
    Cli mixed = Cli.run("kernels", "--attention", "--r", "64");
    assertEquals(1, mixed.exitCode());
    assertTrue(mixed.err().contains("--attention does not go with"), mixed.err());
  }

  @Test
  void aJobConfigAskingForCudaWithoutAGpuIsRefusedWhenRead(@TempDir Path tmp) throws Exception {
    assumeFalse(gpuUsable(), "a usable GPU is here: this test is about machines without one");
    String yaml = Files.readString(TestFiles.models().getParent().resolve("job/job.example.yaml"))
        .replace("backend: cpu ", "backend: cuda ");
    Path file = tmp.resolve("job.yaml");
    Files.writeString(file, yaml);
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(file));
    assertTrue(e.getMessage().startsWith("job.yaml: cuda backend unavailable: "), e.getMessage());
  }
}
