package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.job.demo.Demo;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's Flink web UI in a real headless browser: the training operator's Metrics tab offers
 * each adapter's loss, tokens per second and version, and a picked one shows its value. A
 * screenshot goes to {@code job/target/screenshots/}.
 */
class FlinkWebUiIT {
  @TempDir Path tmp;

  @Test
  @org.junit.jupiter.api.Timeout(value = 5, unit = java.util.concurrent.TimeUnit.MINUTES)
  void theTrainingOperatorShowsPerAdapterMetrics() throws Exception {
    HeadlessChromium chromium = HeadlessChromium.require(tmp);
    chromium.driver();
    int ui = EmbeddedKafka.freePort();
    StringWriter log = new StringWriter();
    CountDownLatch stop = new CountDownLatch(1);
    Thread demo = new Thread(() -> {
      try {
        Demo.run(new Demo.Settings(Duration.ofMinutes(4), 2, 0, ui, EmbeddedKafka.freePort(), 0, null,
            TestFiles.stories260K(), 8, BackendSpec.CPU), new PrintWriter(log, true), stop);
      } catch (Exception e) {
        log.write("DEMO FAILED: " + e);
      }
    }, "demo");
    demo.start();
    try {
      String base = "http://localhost:" + ui;
      HttpClient http = HttpClient.newHttpClient();
      String jobId = null;
      String vertexId = null;
      long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
      while (vertexId == null && System.nanoTime() < deadline) {
        Thread.sleep(1000);
        try {
          JsonNode jobs = Json.MAPPER.readTree(get(http, base + "/jobs/overview")).path("jobs");
          for (JsonNode j : jobs) {
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
      assertTrue(vertexId != null, "no running training operator in the web UI:\n" + log);
      // wait until the adapters trained: their metric groups exist from their first record
      while (!log.toString().contains(" v1 ") && System.nanoTime() < deadline) {
        Thread.sleep(1000);
      }
      assertTrue(log.toString().contains(" v1 "), "no version within 3 minutes:\n" + log);
      try (FlinkWebUi browser = new FlinkWebUi(chromium, base, tmp.resolve("selenium-profile"))) {
        for (String metric : List.of("loss_ema", "tokens_per_second", "snapshot_version")) {
          List<String> offered;
          try {
            offered = browser.vertexMetrics(jobId, vertexId, metric);
          } catch (RuntimeException e) {
            browser.screenshot(Path.of("target/screenshots/flink-web-ui-failed.png"));
            java.nio.file.Files.writeString(Path.of("target/screenshots/flink-web-ui-failed.html"), browser.page());
            throw e;
          }
          for (String adapter : List.of("demo-colors", "demo-sounds")) {
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
      }
    } finally {
      stop.countDown();
      demo.join(120_000);
    }
  }

  private static String get(HttpClient http, String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
  }
}
