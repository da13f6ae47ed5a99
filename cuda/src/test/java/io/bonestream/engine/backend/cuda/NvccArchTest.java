package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every kernel of kernels.cu compiles for Ampere (sm_80, sm_86), Ada (sm_89) and Hopper (sm_90)
 * with the CUDA toolkit's nvcc, each CUBIN holding them all: the device code (inline PTX for
 * mma.sync, ldmatrix, cp.async included) assembled by ptxas for each architecture, on a machine
 * without a GPU or libnvrtc. NVRTC, which the device compiles with at run time, has the same front
 * end and the same ptxas ({@link NvrtcArchTest} runs it where libnvrtc is). Skipped, saying so,
 * where no nvcc is installed; {@code BONESTREAM_NVCC} names one.
 */
@Timeout(600)
class NvccArchTest {
  private static final Pattern PROPERTIES = Pattern.compile("Function properties for (\\w+)");
  private static final Pattern SPILLS = Pattern.compile("(\\d+) bytes spill stores, (\\d+) bytes spill loads");

  @Test
  void everyKernelCompilesWithNvccForAmpereAdaAndHopper(@TempDir Path dir) throws Exception {
    Path nvcc = nvcc();
    assumeTrue(nvcc != null, "no nvcc: not on PATH, not /usr/local/cuda/bin/nvcc, BONESTREAM_NVCC unset");
    String source = KernelDeclarations.kernelsSource();
    List<String> expected = KernelDeclarations.names(source);
    Path cu = dir.resolve("kernels.cu");
    Files.writeString(cu, source);
    List<String> archs = ArchList.parse(ArchList.DEFAULT, () -> null);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<NvrtcCompiler.Result>> runs = new ArrayList<>();
      for (String arch : archs) {
        runs.add(pool.submit(() -> compile(nvcc, cu, arch)));
      }
      List<String> failures = new ArrayList<>();
      for (Future<NvrtcCompiler.Result> run : runs) {
        NvrtcCompiler.Result r = run.get(300, TimeUnit.SECONDS);
        ArchCheck.Outcome o = ArchCheck.judge(r, expected);
        System.out.printf(Locale.ROOT, "nvcc %s: %s, %.1f s%s%n", r.arch(), o.ok() ? "all " + expected.size()
            + " kernels in the CUBIN" : "FAIL", r.seconds(), spills(r.log()));
        if (!o.ok()) {
          failures.add(r.arch() + ": " + (o.error() != null ? o.error() : "missing " + o.missing()));
        }
      }
      assertTrue(failures.isEmpty(), String.join("\n", failures));
    } finally {
      pool.shutdownNow();
    }
  }

  /** nvcc -cubin for one architecture, with the options CudaDevice gives NVRTC; ptxas verbose. */
  private static NvrtcCompiler.Result compile(Path nvcc, Path cu, String arch) throws Exception {
    Path cubin = cu.resolveSibling("kernels_" + arch + ".cubin");
    Path log = cu.resolveSibling("nvcc_" + arch + ".log");
    long t0 = System.nanoTime();
    Process p = new ProcessBuilder(nvcc.toString(), "-cubin", "-arch=" + arch, "-std=c++17", "-Xptxas", "-v",
        "-o", cubin.toString(), cu.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    double seconds;
    if (!p.waitFor(240, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return new NvrtcCompiler.Result(arch, null, "", "nvcc took over 240 s", 240);
    }
    seconds = (System.nanoTime() - t0) / 1e9;
    String text = Files.readString(log, StandardCharsets.UTF_8);
    if (p.exitValue() != 0) {
      return new NvrtcCompiler.Result(arch, null, text, "nvcc exited with " + p.exitValue(), seconds);
    }
    return new NvrtcCompiler.Result(arch, Files.readAllBytes(cubin), text, null, seconds);
  }

  /** ptxas's report of the kernels that spill registers, for the log (not a verdict). */
  private static String spills(String log) {
    List<String> spilled = new ArrayList<>();
    String function = null;
    for (String line : log.split("\n")) {
      Matcher f = PROPERTIES.matcher(line);
      if (f.find()) {
        function = f.group(1);
      }
      Matcher s = SPILLS.matcher(line);
      if (s.find() && function != null && (Long.parseLong(s.group(1)) > 0 || Long.parseLong(s.group(2)) > 0)) {
        spilled.add(function + " (" + s.group(1) + "/" + s.group(2) + " bytes)");
      }
    }
    return spilled.isEmpty() ? ", no spills" : ", spills: " + String.join(", ", spilled);
  }

  private static Path nvcc() {
    String named = System.getenv("BONESTREAM_NVCC");
    if (named != null && !named.isBlank()) {
      return Path.of(named);
    }
    for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(d.isEmpty() ? "." : d, "nvcc");
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    Path standard = Path.of("/usr/local/cuda/bin/nvcc");
    return Files.isExecutable(standard) ? standard : null;
  }
}
