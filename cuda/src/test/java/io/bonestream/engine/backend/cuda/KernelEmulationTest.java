package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.opentest4j.TestAbortedException;

/**
 * kernels.cu run on the CPU, without a GPU: {@code src/test/cpp/emulated_kernels.cpp} compiles the
 * kernels with the host's C++ compiler and {@code kernel_emulator.h} (CUDA threads as coroutines,
 * mma.sync and ldmatrix with the PTX ISA's fragment layouts) and checks them against float64
 * references: bat's tensor-core kernels that were verified on a GPU (which holds the emulator to
 * real hardware's results), and the fused attention kernels, on CUDA cores and on tensor cores,
 * which had not run anywhere before. It does not replace a GPU run (timing, the real compiler's
 * code, the memory model), it catches wrong indices, masks, fragment orders and barriers.
 *
 * <p>Needs g++ (or c++) on the PATH; skipped with a message where there is none, unless
 * {@code BONESTREAM_REQUIRE_CXX=1} (CI sets it) makes that a failure.
 */
@Timeout(600)
class KernelEmulationTest {
  private static final Path SOURCES = Path.of("src", "test", "cpp");
  private static final Path KERNELS = Path.of("src", "main", "resources", "io", "bonestream", "engine", "backend",
      "cuda");

  @Test
  void kernelsAgreeWithFloat64ReferencesOnTheEmulator() throws Exception {
    String compiler = compiler();
    Path dir = Files.createDirectories(Path.of("target", "kernel-emulation"));
    Path binary = dir.resolve("emulated_kernels");
    Result build = run(dir.resolve("build.log"), 300, compiler, "-std=c++17", "-O2", "-w",
        "-I", KERNELS.toString(), SOURCES.resolve("emulated_kernels.cpp").toString(), "-o", binary.toString());
    assertEquals(0, build.code, "the emulated kernels did not compile:\n" + build.output);
    Result checks = run(dir.resolve("checks.log"), 400, binary.toAbsolutePath().toString());
    System.out.print(checks.output);
    assertEquals(0, checks.code, "kernels outside their bounds on the emulator:\n" + checks.output);
    assertTrue(checks.output.contains("all checks passed"), checks.output);
    // the attention kernels of both kinds were among the checks
    assertTrue(checks.output.contains("attn tensor cores bf16") && checks.output.contains("attn cuda cores f32"),
        checks.output);
  }

  private static String compiler() {
    for (String name : List.of("g++", "c++")) {
      for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
        if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
          return Path.of(dir, name).toString();
        }
      }
    }
    String why = "no C++ compiler (g++ or c++) on the PATH: the kernels cannot be checked on the emulator.";
    if ("1".equals(System.getenv("BONESTREAM_REQUIRE_CXX"))) {
      throw new AssertionError(why + " BONESTREAM_REQUIRE_CXX=1 makes this a failure.");
    }
    throw new TestAbortedException(why + " Skipped; BONESTREAM_REQUIRE_CXX=1 makes this a failure.");
  }

  private record Result(int code, String output) {}

  /** Runs a command with a deadline, its output (both streams) into log and returned. */
  private static Result run(Path log, long seconds, String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      throw new AssertionError(String.join(" ", command) + " ran past " + seconds + " s:\n"
          + Files.readString(log, StandardCharsets.UTF_8));
    }
    return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
  }
}
