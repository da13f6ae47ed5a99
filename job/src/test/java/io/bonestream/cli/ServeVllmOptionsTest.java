package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.PeftExportSink;
import io.bonestream.subscriber.SubscriberMetrics;
import io.bonestream.subscriber.VllmRuntimeSink;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** serve's --export-* and --vllm-* options make the listener that exports (and loads into vLLM). */
@Timeout(60)
class ServeVllmOptionsTest {
  @TempDir Path tmp;

  private static final SubscriberMetrics METRICS = SubscriberMetrics.create(AdapterRegistry.builder().build());

  static ServeCommand parse(String... options) {
    ServeCommand c = new ServeCommand();
    String[] base = {"--model", "m", "--bootstrap", "b:9092", "--allow-unsigned"};
    new CommandLine(c).parseArgs(java.util.stream.Stream.concat(java.util.stream.Stream.of(base),
        java.util.stream.Stream.of(options)).toArray(String[]::new));
    return c;
  }

  @Test
  void theOptionsChooseTheExport() {
    String dir = tmp.resolve("exports").toString();
    assertNull(parse().exportSink(Map.of(), METRICS));
    assertFalse(((PeftExportSink) parse("--export-dir", dir).exportSink(Map.of(), METRICS)).vllmLayout());
    assertTrue(((PeftExportSink) parse("--export-dir", dir, "--export-layout", "vllm", "--vllm-base-model-name", "m",
        "--vllm-max-lora-rank", "32").exportSink(Map.of(), METRICS)).vllmLayout());
    VllmRuntimeSink sink = (VllmRuntimeSink) parse("--export-dir", dir, "--vllm-url", "http://127.0.0.1:8000",
        "--vllm-lora-path-prefix", "/adapters").exportSink(Map.of(), METRICS);
    assertEquals("/adapters/a@7", sink.loraPath("a", 7));
    assertTrue(sink.export().vllmLayout());
    assertTrue(sink.toString().contains("no API key"), sink.toString());
    VllmRuntimeSink keyed = (VllmRuntimeSink) parse("--export-dir", dir, "--vllm-url", "http://127.0.0.1:8000")
        .exportSink(Map.of(ServeCommand.VLLM_API_KEY_ENV, "from-the-environment"), METRICS);
    assertTrue(keyed.toString().contains("API key set") && !keyed.toString().contains("from-the-environment"));
    assertEquals(Path.of(dir).toAbsolutePath().normalize() + "/a@1", keyed.loraPath("a", 1), "default prefix");
  }
}
