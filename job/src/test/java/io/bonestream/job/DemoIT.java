package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.job.demo.Demo;
import io.bonestream.operators.StreamingJob;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo end to end, shortened to 45 + 30 seconds in two runs on one {@code --data-dir}: the
 * second run restores the first one's savepoint and topics and goes on numbering versions; every
 * adapter's held-out loss falls well below the base model's; the web UI and metrics were served,
 * everything the demo listens on is on loopback and the web UI takes no jar uploads; and, during the
 * second run, the Flink web UI in a real browser shows each adapter's metrics ({@link FlinkWebUiCheck}).
 */
class DemoIT {
  @TempDir Path tmp;

  private static String get(java.net.http.HttpClient http, String url) throws Exception {
    return http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).timeout(Duration.ofSeconds(10))
        .build(), java.net.http.HttpResponse.BodyHandlers.ofString()).body();
  }

  @Test
  @Timeout(value = 7, unit = TimeUnit.MINUTES)
  void everyAdapterLearnsItsTask() throws Exception {
    StringWriter log = new StringWriter();
    int ui = EmbeddedKafka.freePort();
    int metrics = EmbeddedKafka.freePort();
    CountDownLatch never = new CountDownLatch(1);
    AtomicBoolean firstRunOver = new AtomicBoolean();
    // the sockets this JVM listens on before the demo: what the demo opens is the rest
    java.util.Set<Long> demoless = ListeningSockets.available() ? ListeningSockets.now().keySet() : java.util.Set.of();
    // what the running demo serves, polled until it shows everything (or the first run ends)
    Thread probe = new Thread(() -> {
      String last = null; // what the last complete probe saw
      String failure = "nothing probed";
      while (!firstRunOver.get()) {
        try {
          Thread.sleep(1000);
          var http = java.net.http.HttpClient.newHttpClient();
          var page = get(http, "http://localhost:" + metrics + "/metrics");
          var jobs = get(http, "http://localhost:" + ui + "/jobs/overview");
          // the job's own count of dead letters for the feeder's broken (empty-response) records
          double deadLetters = page.lines()
              .filter(l -> l.contains("dead_letters") && l.contains("dlq_reason=\"EMPTY_RESPONSE\""))
              .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
          // the Grafana dashboard uses only names the running system exports (Flink + the server)
          java.util.regex.Matcher serve;
          synchronized (log) {
            serve = java.util.regex.Pattern.compile("Completions: +http://localhost:(\\d+)/").matcher(log.toString());
          }
          String servePage = serve.find() ? get(http, "http://localhost:" + serve.group(1) + "/metrics") : "";
          // ... and so do the alert rules
          List<String> expressions = new java.util.ArrayList<>(DashboardCheck.expressions(
              TestFiles.models().getParent().resolve("k8s/base/grafana/bonestream.json")));
          expressions.addAll(DashboardCheck.ruleExpressions(TestFiles.models().getParent().resolve("k8s/base/alerts.yaml")));
          List<String> dashboard = DashboardCheck.problems(expressions, DashboardCheck.exported(List.of(page, servePage)));
          // everything the demo listens on is on loopback, and the web UI takes no jars
          List<String> open = new java.util.ArrayList<>();
          if (ListeningSockets.available()) {
            ListeningSockets.now().forEach((inode, where) -> {
              if (!demoless.contains(inode) && !ListeningSockets.isLoopback(where)) {
                open.add(where);
              }
            });
          }
          boolean submit = Json.MAPPER.readTree(get(http, "http://localhost:" + ui + "/config")).path("features")
              .path("web-submit").asBoolean(true);
          last = "\nPROBE not on loopback: " + open + "\nPROBE web submit: " + submit + "\n"
              + "\nPROBE dashboard problems: " + dashboard + "\n"
              + "\nPROBE metrics has adapter loss: " + page.contains("adapter=\"demo-colors\"")
              + page.contains("operator_adapter_loss_ema") + "\nPROBE jobs: " + jobs.contains("RUNNING")
              + "\nPROBE dead letters: " + (deadLetters > 0) + "\n";
          if (open.isEmpty() && !submit && dashboard.isEmpty() && page.contains("adapter=\"demo-colors\"")
              && page.contains("operator_adapter_loss_ema") && jobs.contains("RUNNING") && deadLetters > 0) {
            break;
          }
        } catch (InterruptedException e) {
          return;
        } catch (Exception e) {
          failure = "\nPROBE failed: " + e + "\n"; // e.g. while the demo stops
        }
      }
      synchronized (log) {
        log.write(last != null ? last : failure);
      }
    });
    probe.start();
    int kafkaPort = EmbeddedKafka.freePort();
    long t0 = System.nanoTime();
    Demo.Result first = Demo.run(new Demo.Settings(Duration.ofSeconds(45), 3, kafkaPort, ui, metrics, 0, tmp,
        TestFiles.stories260K(), 8, BackendSpec.CPU), new PrintWriter(log, true), never);
    firstRunOver.set(true);
    System.out.printf("DemoIT: the first run took %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
    probe.join(Duration.ofMinutes(1).toMillis());
    assertFalse(probe.isAlive(), "the probe did not stop");
    String out = log.toString();
    assertTrue(out.contains("stopped with savepoint"), out);

    // the second run: the Flink web UI in a browser while it trains; it stops once that check is over
    // and it trained 30 s (its progress line at 30 s), within 3 minutes
    StringWriter log2 = new StringWriter();
    CountDownLatch stop = new CountDownLatch(1);
    AtomicReference<Throwable> webUi = new AtomicReference<>();
    long t1 = System.nanoTime();
    long deadline = t1 + Duration.ofMinutes(3).toNanos();
    Thread check = new Thread(() -> {
      try {
        FlinkWebUiCheck.check(tmp, "http://localhost:" + ui, List.of("demo-colors", "demo-sounds"), deadline);
        System.out.printf("DemoIT: the web UI was checked %d s into the second run%n",
            (System.nanoTime() - t1) / 1_000_000_000);
      } catch (org.opentest4j.TestAbortedException skipped) {
        System.out.println("the web UI was not checked: " + skipped.getMessage());
      } catch (Throwable t) {
        webUi.set(t);
      }
      try {
        java.util.regex.Pattern progress = java.util.regex.Pattern.compile("\\[ *([0-9]+)s\\]");
        while (System.nanoTime() < deadline && progress.matcher(log2.toString()).results()
            .noneMatch(m -> Integer.parseInt(m.group(1)) >= 30)) {
          Thread.sleep(500);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        stop.countDown();
      }
    }, "web-ui-check");
    check.start();
    Demo.Result r = Demo.run(new Demo.Settings(Duration.ofMinutes(3), 3, kafkaPort, ui, metrics, 0, tmp,
        TestFiles.stories260K(), 8, BackendSpec.CPU), new PrintWriter(log2, true), stop);
    System.out.printf("DemoIT: the second run took %d s%n", (System.nanoTime() - t1) / 1_000_000_000);
    check.join(Duration.ofMinutes(1).toMillis());
    assertFalse(check.isAlive(), "the web UI check did not end");
    if (webUi.get() != null) {
      throw new AssertionError("the Flink web UI during the second run", webUi.get());
    }
    String out2 = log2.toString();
    assertTrue(out2.contains("restoring savepoint"), out2);
    assertTrue(out2.contains("versions already published"), out2);
    for (String adapter : first.evaluations().keySet()) {
      long before = first.version(adapter);
      assertTrue(r.version(adapter) > before, adapter + " did not go on:\n" + out2);
    }
    // one unbroken sequence of versions per adapter over both runs, each version once
    try (EmbeddedKafka kafka = EmbeddedKafka.start(kafkaPort, tmp.resolve("kafka"), false)) {
      var all = StreamingHarness.allSnapshots(kafka.bootstrapServers(), StreamingJob.ADAPTERS_TOPIC);
      for (String adapter : r.evaluations().keySet()) {
        List<Long> versions = all.stream().filter(m -> m.getAdapterId().equals(adapter))
            .map(m -> m.getVersion()).toList();
        assertEquals(LongStream.rangeClosed(1, versions.size()).boxed().toList(), versions, adapter);
        assertTrue(versions.size() >= r.version(adapter), adapter);
      }
    }
    out = out + out2;
    assertEquals(3, r.evaluations().size(), out);
    for (String adapter : r.evaluations().keySet()) {
      assertTrue(r.adapterLoss(adapter) < 0.35 * r.baseLoss(adapter),
          adapter + ": held-out loss " + r.baseLoss(adapter) + " -> " + r.adapterLoss(adapter) + "\n" + out);
    }
    assertTrue(out.contains("PROBE metrics has adapter loss: truetrue"), out);
    assertTrue(out.contains("PROBE jobs: true"), out);
    assertTrue(out.contains("PROBE dead letters: true"), out);
    assertTrue(out.contains("PROBE dashboard problems: []"), out);
    assertTrue(out.contains("PROBE not on loopback: []"), out);
    assertTrue(out.contains("PROBE web submit: false"), out);
  }
}
