package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The command line of the GPU checks: usage errors before anything starts, selftest on the cpu backend. */
@Timeout(300)
class GpuChecksCliTest {
  @Test
  void aBadBrokerTopicIsAUsageErrorBeforeTheBrokerStarts(@TempDir Path dir) {
    Cli cli = Cli.run("broker", "--data-dir", dir.resolve("kafka").toString(), "--topic", "in");
    assertEquals(1, cli.exitCode(), cli.err());
    assertTrue(cli.err().contains("--topic wants NAME:PARTITIONS"), cli.err());
    assertFalse(Files.exists(dir.resolve("kafka")), "the broker started");
  }

  @Test
  void kernelsCompileOnlyChecksItsArchitecturesFirst() {
    Cli cli = gpuCommand("kernels", "--compile-only", "--arch", "sm86");
    assertEquals(2, cli.exitCode(), cli.err());
    assertTrue(cli.err().contains("'sm86' is not an architecture"), cli.err());
    Cli arch = Cli.run("kernels", "--arch", "sm_86");
    assertEquals(1, arch.exitCode(), arch.err());
    assertTrue(arch.err().contains("--arch goes with --compile-only"), arch.err());
  }

  @Test
  void kernelsAttentionOnTheCpuTimesEachTile() {
    Cli alone = Cli.run("kernels", "--backend", "cpu");
    assertEquals(1, alone.exitCode(), alone.err());
    assertTrue(alone.err().contains("--backend cpu goes with --attention"), alone.err());
    Cli other = Cli.run("kernels", "--attention", "--backend", "tpu");
    assertEquals(1, other.exitCode(), other.err());
    assertTrue(other.err().contains("--backend must be cuda or cpu"), other.err());
    Cli cli = gpuCommand("kernels", "--attention", "--backend", "cpu", "--batch", "1", "--seq", "130", "--reps", "1");
    assertEquals(0, cli.exitCode(), cli.out() + cli.err());
    assertTrue(cli.out().contains("attention 25M 1x130, 8 heads (8 kv), hd 64, cpu"), cli.out());
    assertTrue(cli.out().contains("tile 128 (default)") && cli.out().contains("tile 64 vs 128, rel L2"), cli.out());
  }

  @Test
  void selftestOnTheCpuBackendPasses() {
    Cli bf16 = gpuCommand("selftest", "--backend", "cpu", "--precision", "bf16");
    assertEquals(2, bf16.exitCode(), bf16.err());
    assertTrue(bf16.err().contains("float32 only"), bf16.err());
    Cli cli = gpuCommand("selftest", "--backend", "cpu");
    assertEquals(0, cli.exitCode(), cli.out() + cli.err());
    assertTrue(cli.out().strip().endsWith("PASS"), cli.out());
  }

  /** The commands the GPU distribution shares print to System.out and System.err: kept here. */
  private static Cli gpuCommand(String... args) {
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
    try {
      Cli cli = Cli.run(args);
      return new Cli(cli.exitCode(), cli.out() + o.toString(StandardCharsets.UTF_8),
          cli.err() + e.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
  }
}
