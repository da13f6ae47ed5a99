package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.operators.StreamingJob;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo as a user runs it: {@code bonestream demo} in a process of its own, twice on one
 * {@code --data-dir}: 30 s, then until the Flink web UI was checked in a real browser ({@link FlinkWebUiCheck})
 * and it trained 15 s, when SIGTERM stops it as Ctrl-C would.
 * <ul>
 *   <li>Training: the second run restores the first one's savepoint and topics and goes on numbering versions,
 *   one unbroken sequence per adapter on the adapters topic; every adapter's held-out loss in the table the demo
 *   ends with falls well below the base model's.
 *   <li>Serving, probed while the first run trains: the web UI and metrics answer, the Grafana dashboard and
 *   alert rules use only names the running system exports, every socket the demo process listens on (read from
 *   {@code /proc}) is on loopback, and the web UI takes no jar uploads.
 *   <li>The console over the restart: each run names its log file in its first line; the file has the whole log
 *   (the libraries' INFO lines, their warnings about the restart); the console has the demo's own lines and none
 *   of the libraries' known-harmless warnings: no "data loss" where Flink's Kafka committer re-commits a
 *   transaction that the savepoint had committed (the console says so in a note instead), no Kafka
 *   transaction-coordinator, Flink metric-name or RPC shutdown warnings. The private signing key is never logged.
 * </ul>
 */
class DemoIT {
  private static final Pattern FIRST_LINE = Pattern.compile("log: (\\S+) \\(everything; [^\\n]*\\)\\n");
  /** A line of the table the demo ends with: adapter, base model's loss -> latest version's loss (vN). */
  private static final Pattern RESULT = Pattern.compile("(?m)^  (\\S+) +([0-9.]+) -> ([0-9.]+) \\(v(\\d+)\\)");
  private static final Pattern PROGRESS = Pattern.compile("\\[ *([0-9]+)s\\]");

  @TempDir Path tmp;

  record Evaluation(double baseLoss, double adapterLoss, long version) {}

  @Test
  @Timeout(value = 7, unit = TimeUnit.MINUTES)
  void everyAdapterLearnsItsTaskOverARestartAndTheConsoleSaysOnlyThat() throws Exception {
    Path data = tmp.resolve("data");
    int kafkaPort = EmbeddedKafka.freePort();
    int ui = EmbeddedKafka.freePort();
    int metrics = EmbeddedKafka.freePort();

    String first;
    Probe probe;
    long t0 = System.nanoTime();
    try (CliProcess demo = start(tmp.resolve("console-1.txt"), data, kafkaPort, ui, metrics, "30s")) {
      probe = new Probe(demo, ui, metrics);
      probe.start();
      int exit = demo.waitFor(180);
      probe.interrupt();
      probe.join(Duration.ofMinutes(1).toMillis());
      assertFalse(probe.isAlive(), "the probe did not stop");
      assertEquals(0, exit, "the first run did not end well:\n" + demo.output());
      first = demo.output();
    }
    System.out.printf("DemoIT: the first run took %d s%n", (System.nanoTime() - t0) / 1_000_000_000);
    assertTrue(first.contains("stopped with savepoint"), first);
    String seen = probe.seen();
    assertTrue(seen.contains("metrics has adapter loss: true"), seen);
    assertTrue(seen.contains("jobs running: true"), seen);
    assertTrue(seen.contains("dead letters counted: true"), seen);
    assertTrue(seen.contains("dashboard problems: []"), seen);
    assertTrue(seen.contains("not on loopback: []"), seen);
    assertTrue(seen.contains("web submit: false"), seen);

    String second;
    try (CliProcess demo = start(tmp.resolve("console-2.txt"), data, kafkaPort, ui, metrics, "3m")) {
      long t1 = System.nanoTime();
      long deadline = t1 + Duration.ofMinutes(3).toNanos();
      Throwable webUi = null;
      try {
        FlinkWebUiCheck.check(tmp, "http://localhost:" + ui, List.of("demo-colors", "demo-sounds"), deadline);
        System.out.printf("DemoIT: the web UI was checked %d s into the second run%n",
            (System.nanoTime() - t1) / 1_000_000_000);
      } catch (org.opentest4j.TestAbortedException skipped) {
        System.out.println("the web UI was not checked: " + skipped.getMessage());
      } catch (Throwable t) {
        webUi = t;
      }
      while (System.nanoTime() < deadline && demo.alive() && PROGRESS.matcher(demo.output()).results()
          .noneMatch(m -> Integer.parseInt(m.group(1)) >= 15)) {
        Thread.sleep(500);
      }
      demo.terminate(); // SIGTERM: as Ctrl-C, a stop with a savepoint
      int exit = demo.waitFor(180);
      assertEquals(0, exit, "the second run did not end well:\n" + demo.output());
      if (webUi != null) {
        throw new AssertionError("the Flink web UI during the second run", webUi);
      }
      second = demo.output();
      System.out.printf("DemoIT: the second run took %d s%n", (System.nanoTime() - t1) / 1_000_000_000);
    }
    assertTrue(second.contains("restoring savepoint"), second);
    assertTrue(second.contains("versions already published"), second);

    Map<String, Evaluation> before = results(first);
    Map<String, Evaluation> after = results(second);
    System.out.println("DemoIT: held-out loss, base model -> latest version: " + after);
    assertEquals(List.of("demo-colors", "demo-sounds", "demo-opposites"), List.copyOf(after.keySet()), second);
    for (Map.Entry<String, Evaluation> e : after.entrySet()) {
      String adapter = e.getKey();
      Evaluation r = e.getValue();
      assertTrue(before.containsKey(adapter) && r.version() > before.get(adapter).version(),
          adapter + " did not go on:\n" + first + second);
      assertTrue(r.adapterLoss() < 0.35 * r.baseLoss(),
          adapter + ": held-out loss " + r.baseLoss() + " -> " + r.adapterLoss() + "\n" + first + second);
    }
    // one unbroken sequence of versions per adapter over both runs, each version once
    try (EmbeddedKafka kafka = EmbeddedKafka.start(kafkaPort, data.resolve("kafka"), false)) {
      var all = StreamingHarness.allSnapshots(kafka.bootstrapServers(), StreamingJob.ADAPTERS_TOPIC);
      for (Map.Entry<String, Evaluation> e : after.entrySet()) {
        List<Long> versions = all.stream().filter(m -> m.getAdapterId().equals(e.getKey()))
            .map(m -> m.getVersion()).toList();
        assertEquals(LongStream.rangeClosed(1, versions.size()).boxed().toList(), versions, e.getKey());
        assertTrue(versions.size() >= e.getValue().version(), e.getKey());
      }
    }

    String key = Files.readAllLines(data.resolve("keys/signing.key")).get(1);
    for (String console : List.of(first, second)) {
      assertConsole(console, data, key);
    }
  }

  private static CliProcess start(Path console, Path data, int kafkaPort, int ui, int metrics, String duration)
      throws Exception {
    // BONESTREAM_LOG_FILE empty: the default log file, as a user's demo has it
    return CliProcess.start(console, Map.of("BONESTREAM_LOG_FILE", ""), "demo", "--data-dir", data.toString(),
        "--duration", duration, "--model", TestFiles.stories260K().toString(),
        "--kafka-port", String.valueOf(kafkaPort), "--ui-port", String.valueOf(ui),
        "--metrics-port", String.valueOf(metrics), "--serve-port", "0");
  }

  /** The table the demo ends with, by adapter, in its order. */
  private static Map<String, Evaluation> results(String console) {
    int table = console.lastIndexOf("held-out loss, base model -> latest version:");
    assertTrue(table >= 0, "no final table:\n" + console);
    Map<String, Evaluation> out = new LinkedHashMap<>();
    Matcher m = RESULT.matcher(console.substring(table));
    while (m.find()) {
      out.put(m.group(1), new Evaluation(Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3)),
          Long.parseLong(m.group(4))));
    }
    return out;
  }

  /** A run's console and the log file it names in its first line. */
  private static void assertConsole(String console, Path data, String signingKey) throws Exception {
    Matcher m = FIRST_LINE.matcher(console);
    assertTrue(m.lookingAt(), "the first line names the log file:\n" + console);
    Path file = Path.of(m.group(1));
    assertEquals(data.resolve("logs"), file.getParent(), console);
    assertTrue(file.getFileName().toString().matches("bonestream-demo-\\d{8}-\\d{6}\\.log"), console);
    String log = Files.readString(file);
    // the whole log: the libraries' and bonestream's INFO lines, the warnings the console leaves out
    assertTrue(log.contains(" INFO  [") && log.contains("org.apache.flink.runtime.checkpoint.CheckpointCoordinator"),
        "Flink's INFO lines are in the file");
    assertTrue(log.contains("org.apache.kafka."), "Kafka's lines are in the file");
    assertTrue(log.contains("io.bonestream.operators.publish.PublishedVersions"), "bonestream's INFO lines");
    assertTrue(log.contains("org.apache.flink.metrics.MetricGroup - Name collision"), "a known-harmless warning");
    assertFalse(log.contains(signingKey), "the private signing key is in the log file");
    assertFalse(console.contains(signingKey), "the private signing key is on the console");
    // the console: the demo's lines, and no library warning this run is known to print
    assertTrue(console.contains("held-out loss, base model -> latest version:"), console);
    for (String wolf : List.of("data loss", "already fenced", "TransactionCoordinator", "Name collision",
        "The scheduled executor service is shutdown", " INFO ")) {
      assertFalse(console.contains(wolf), "'" + wolf + "' on the console:\n" + console);
    }
    // the committer's words about the savepoint's transactions, where they came, are in the file; the
    // console has the note, once
    long notes = console.lines().filter(l -> l.contains(" note: ")).count();
    System.out.println(file.getFileName() + ": the committer's fenced error "
        + (log.contains("because its producer is already fenced") ? "came" : "did not come") + ", notes: " + notes);
    if (log.contains("because its producer is already fenced")) {
      assertTrue(log.contains("this most likely signals data loss"), "the library's own words stay in the file");
      assertEquals(1, notes, console);
      assertTrue(console.contains("after the restart, Flink committed again a Kafka transaction"), console);
    } else {
      assertEquals(0, notes, console);
    }
  }

  /**
   * What the running demo serves, polled every second until it shows everything or it is interrupted;
   * {@link #seen} is the last complete look.
   */
  private static final class Probe extends Thread {
    private final CliProcess demo;
    private final int ui;
    private final int metrics;
    private volatile String seen = "nothing probed";

    Probe(CliProcess demo, int ui, int metrics) {
      super("demo-probe");
      this.demo = demo;
      this.ui = ui;
      this.metrics = metrics;
    }

    String seen() {
      return seen;
    }

    @Override
    public void run() {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      while (!isInterrupted()) {
        try {
          Thread.sleep(1000);
          String page = get(http, "http://localhost:" + metrics + "/metrics");
          String jobs = get(http, "http://localhost:" + ui + "/jobs/overview");
          // the job's own count of dead letters for the feeder's broken (empty-response) records
          double deadLetters = page.lines()
              .filter(l -> l.contains("dead_letters") && l.contains("dlq_reason=\"EMPTY_RESPONSE\""))
              .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
          // the Grafana dashboard and the alert rules use only names the running system exports (Flink + the server)
          Matcher serve = Pattern.compile("Completions: +http://localhost:(\\d+)/").matcher(demo.output());
          String servePage = serve.find() ? get(http, "http://localhost:" + serve.group(1) + "/metrics") : "";
          Path k8s = TestFiles.models().getParent().resolve("k8s/base");
          List<String> expressions = new ArrayList<>(DashboardCheck.expressions(k8s.resolve("grafana/bonestream.json")));
          expressions.addAll(DashboardCheck.ruleExpressions(k8s.resolve("alerts.yaml")));
          List<String> dashboard = DashboardCheck.problems(expressions, DashboardCheck.exported(List.of(page, servePage)));
          // everything the demo listens on is on loopback, and the web UI takes no jars
          List<String> open = new ArrayList<>();
          boolean sockets = ListeningSockets.available();
          if (sockets) {
            ListeningSockets.of(demo.pid()).values().stream().filter(w -> !ListeningSockets.isLoopback(w)).forEach(open::add);
          }
          boolean submit = Json.MAPPER.readTree(get(http, "http://localhost:" + ui + "/config")).path("features")
              .path("web-submit").asBoolean(true);
          boolean loss = page.contains("adapter=\"demo-colors\"") && page.contains("operator_adapter_loss_ema");
          boolean running = jobs.contains("RUNNING");
          seen = "not on loopback: " + open + (sockets ? "" : " (no /proc: not checked)") + "\nweb submit: " + submit
              + "\ndashboard problems: " + dashboard + "\nmetrics has adapter loss: " + loss
              + "\njobs running: " + running + "\ndead letters counted: " + (deadLetters > 0) + "\n";
          if (open.isEmpty() && !submit && dashboard.isEmpty() && loss && running && deadLetters > 0) {
            return;
          }
        } catch (InterruptedException e) {
          return;
        } catch (Exception e) {
          // not up yet, or stopping: the last complete look stands
        }
      }
    }

    private static String get(HttpClient http, String url) throws Exception {
      return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString()).body();
    }
  }
}
