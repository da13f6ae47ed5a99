package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The GPU command line's options: flags, unknown options, usage errors before any device is opened. */
@Timeout(60)
class GpuMainTest {
  @Test
  void optionsTakeValuesAndFlagsStandAlone() {
    Map<String, String> o = GpuOptions.parse(new String[] {"kernels", "--compile-only", "--arch", "sm_86,sm_89"}, 1,
        Set.of("compile-only", "arch"));
    assertEquals(Map.of("compile-only", "true", "arch", "sm_86,sm_89"), o);
    assertEquals(Map.of("profile", "true"), GpuOptions.parse(new String[] {"bench", "--profile"}, 1, Set.of("profile")));
    assertThrows(GpuOptions.UsageException.class,
        () -> GpuOptions.parse(new String[] {"bench", "--recompute"}, 1, Set.of("profile")));
    assertThrows(GpuOptions.UsageException.class,
        () -> GpuOptions.parse(new String[] {"bench", "stray"}, 1, Set.of("profile")));
  }

  @Test
  void usageErrorsExitWith2BeforeAnyDevice() {
    assertEquals(2, quietly("bench", "--no-such-option", "1"));
    assertEquals(2, quietly("selftest", "--backend", "cpu", "--precision", "bf16"));
    assertEquals(2, quietly("kernels", "--compile-only", "--arch", "sm86"));
    assertEquals(2, quietly("kernels", "--arch", "sm_86"));
    assertEquals(2, quietly("kernels", "--seq", "1024"));
    assertEquals(2, quietly("kernels", "--attention", "--r", "64"));
    assertEquals(2, quietly("kernels", "--attention", "--seq", "many"));
    // a runtime error (exit 1), still before any device is opened
    assertEquals(1, quietly("kernels", "--attention", "--configs", "tinyllama-1.1B", "--batch", "0"));
  }

  private static int quietly(String... args) {
    PrintStream err = System.err;
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    System.setErr(new PrintStream(buffer, true, StandardCharsets.UTF_8));
    try {
      return GpuMain.run(args);
    } finally {
      System.setErr(err);
      String text = buffer.toString(StandardCharsets.UTF_8);
      assertTrue(text.startsWith("error: "), text);
    }
  }
}
