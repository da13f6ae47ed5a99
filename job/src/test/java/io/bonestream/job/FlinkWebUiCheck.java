package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A running job's Flink web UI in a real headless browser, as an operator uses it: the training
 * operator's Metrics tab offers each adapter's loss, tokens per second and version, and a picked one
 * shows its value (a version of at least 1). A screenshot goes to {@code job/target/screenshots/}.
 * Skipped without Chromium and chromedriver ({@link HeadlessChromium}).
 */
final class FlinkWebUiCheck {
  private FlinkWebUiCheck() {}

  /** Checks the UI at {@code base} (e.g. http://localhost:8081) by {@code deadline} ({@link System#nanoTime}). */
  static void check(Path scratch, String base, List<String> adapters, long deadline) throws Exception {
    HeadlessChromium chromium = HeadlessChromium.require(scratch);
    chromium.driver();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    String jobId = null;
    String vertexId = null;
    while (vertexId == null && System.nanoTime() < deadline) {
      Thread.sleep(1000);
      try {
        for (JsonNode j : Json.MAPPER.readTree(get(http, base + "/jobs/overview")).path("jobs")) {
          if (j.path("state").asText().equals("RUNNING")) {
            jobId = j.path("jid").asText();
            for (JsonNode v : Json.MAPPER.readTree(get(http, base + "/jobs/" + jobId)).path("vertices")) {
              if (v.path("name").asText().startsWith("train-adapters")) {
                vertexId = v.path("id").asText();
              }
            }
          }
        }
      } catch (java.io.IOException notYet) {
        // the web UI is not up yet
      }
    }
    assertTrue(vertexId != null, "no running training operator in the web UI at " + base);
    long t0 = System.nanoTime();
    System.out.println("FlinkWebUiCheck: the training operator is running");
    // an adapter's metric group exists from its first record in this run; wait until each shows a version
    String metrics = base + "/jobs/" + jobId + "/vertices/" + vertexId + "/metrics";
    List<String> missing = adapters;
    while (!missing.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(1000);
      List<String> versions = new ArrayList<>();
      for (JsonNode m : Json.MAPPER.readTree(get(http, metrics))) {
        if (m.path("id").asText().endsWith(".snapshot_version")) {
          versions.add(m.path("id").asText());
        }
      }
      List<String> shown = new ArrayList<>();
      if (!versions.isEmpty()) {
        for (JsonNode m : Json.MAPPER.readTree(get(http, metrics + "?get=" + String.join(",", versions)))) {
          if (m.path("value").asDouble(0) >= 1) {
            shown.add(m.path("id").asText());
          }
        }
      }
      missing = adapters.stream().filter(a -> shown.stream().noneMatch(id -> id.contains("adapter." + a + "."))).toList();
    }
    assertTrue(missing.isEmpty(), "no version of " + missing + " among the training operator's metrics");
    System.out.printf("FlinkWebUiCheck: every adapter's version shown after %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
    try (FlinkWebUi browser = new FlinkWebUi(chromium, base, scratch.resolve("selenium-profile"))) {
      for (String metric : List.of("loss_ema", "tokens_per_second", "snapshot_version")) {
        List<String> offered;
        try {
          offered = browser.vertexMetrics(jobId, vertexId, metric);
        } catch (RuntimeException e) {
          browser.screenshot(Path.of("target/screenshots/flink-web-ui-failed.png"));
          Files.writeString(Path.of("target/screenshots/flink-web-ui-failed.html"), browser.page());
          throw e;
        }
        for (String adapter : adapters) {
          assertTrue(offered.stream().anyMatch(o -> o.contains("adapter." + adapter + "." + metric)),
              adapter + " " + metric + " not offered: " + offered);
        }
      }
      String shown = browser.addFirstOffered();
      // the card shows the metric's id, its size buttons, then the value: a version of at least 1
      java.util.regex.Matcher value = java.util.regex.Pattern.compile(
          "adapter\\.demo-[a-z]+\\.snapshot_version\\s+Big\\s+Small\\s+([0-9.]+)\\s").matcher(shown);
      assertTrue(value.find() && Double.parseDouble(value.group(1)) >= 1, shown);
      browser.screenshot(Path.of("target/screenshots/flink-web-ui-adapter-metrics.png"));
      System.out.printf("FlinkWebUiCheck: the browser's checks done after %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
    }
  }

  private static String get(HttpClient http, String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }
}
