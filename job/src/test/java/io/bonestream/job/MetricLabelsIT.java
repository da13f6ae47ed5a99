package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.schemas.InstructionRecord;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapter ids that differ only in '-', '.' and '_' are three adapters with three Prometheus series:
 * the job's reporter exports label values exactly (Flink's default filter would map all three to
 * "x_y").
 */
class MetricLabelsIT {
  @TempDir Path tmp;

  @Test
  void idsThatDifferOnlyInPunctuationHaveTheirOwnSeries() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("ml.instructions", "ml.adapters", "ml.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      List<String> ids = List.of("x-y", "x.y", "x_y");
      List<InstructionRecord> records = StreamingHarness.interleave(StreamingHarness.colors(ids.get(0), 8),
          StreamingHarness.colors(ids.get(1), 8), StreamingHarness.opposites(ids.get(2), 8));
      StreamingHarness.produce(kafka.bootstrapServers(), "ml.instructions",
          StreamingHarness.asRecords("ml.instructions", records));
      JobConfig c = TestJobYaml.write(tmp, kafka.bootstrapServers(), "ml",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 1}");
      int metricsPort = EmbeddedKafka.freePort();
      JobClient client = LocalFlink.start(c.job(), LocalFlink.configuration(0, metricsPort, 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "metric-labels");
      String page;
      try {
        StreamingHarness.readSnapshots(kafka.bootstrapServers(), "ml.adapters", Duration.ofSeconds(120),
            s -> s.size() >= 6);
        page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
            URI.create("http://localhost:" + metricsPort + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body();
      } finally {
        client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
      Set<String> labels = new TreeSet<>();
      Matcher m = Pattern.compile("_snapshot_version\\{[^}]*adapter=\"([^\"]+)\"").matcher(page);
      while (m.find()) {
        labels.add(m.group(1));
      }
      assertEquals(new TreeSet<>(ids), labels, "adapter labels of snapshot_version");
      assertTrue(page.contains("task_name=\"train-adapters"), "other label values stay readable too");
    }
  }
}
