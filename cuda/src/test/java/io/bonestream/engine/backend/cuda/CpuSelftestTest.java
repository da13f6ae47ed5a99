package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@code selftest --backend cpu}: the default backend's CPU device checked as the GPU is, and passing. */
@Timeout(600)
class CpuSelftestTest {
  @Test
  void theCpuBackendPasses() {
    PrintStream out = System.out;
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    int rc;
    System.setOut(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    try {
      rc = GpuMain.run(new String[] {"selftest", "--backend", "cpu"});
    } finally {
      System.setOut(out);
    }
    String text = buffer.toString(StandardCharsets.UTF_8);
    System.out.print(text);
    assertEquals(0, rc, text);
    assertTrue(text.contains("device: cpu, "), text);
    assertTrue(text.contains("precision: fp32"), text);
    assertTrue(text.matches("(?s).*  ok    \\d+ of \\d+ operations agree.*"), text);
    assertTrue(text.contains("training golden bat_r4_adamw_clip_20steps"), text);
    assertTrue(text.strip().endsWith("PASS"), text);
  }

  /**
   * As {@code ./bonestream selftest --backend cpu} runs it from another folder than the
   * repository: the model, goldens and task come from {@code bonestream.home}, the repository.
   */
  @Test
  void theCpuBackendPassesFromAnyFolder(@org.junit.jupiter.api.io.TempDir java.nio.file.Path elsewhere)
      throws Exception {
    java.nio.file.Path repository = java.nio.file.Path.of("").toAbsolutePath().getParent();
    Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"),
        "-Dbonestream.home=" + repository, "-cp", System.getProperty("java.class.path"),
        GpuMain.class.getName(), "selftest", "--backend", "cpu")
        .directory(elsewhere.toFile()).redirectErrorStream(true).start();
    String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES), text);
    assertEquals(0, p.exitValue(), text);
    assertTrue(text.strip().endsWith("PASS"), text);
  }
}
