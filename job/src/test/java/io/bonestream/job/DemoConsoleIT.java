package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo's console over a restart, as a user sees it: {@code bonestream demo} in a process of its own,
 * twice on one {@code --data-dir}. Each run names its log file in its first line; the file has the whole
 * log (the libraries' INFO lines, their warnings about the restart); the console has the demo's own lines
 * and none of the libraries' known-harmless warnings: no "data loss" where Flink's Kafka committer re-commits
 * a transaction that the savepoint had committed (the console says so in a note instead), no Kafka
 * transaction-coordinator or Flink metric-name warnings. The demo's private signing key is never logged.
 */
class DemoConsoleIT {
  private static final Pattern FIRST_LINE = Pattern.compile("log: (\\S+) \\(everything; [^\\n]*\\)\\n");

  @TempDir Path tmp;

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void aRestartedDemosConsoleDoesNotCryWolf() throws Exception {
    Path data = tmp.resolve("data");
    String[] args = {"demo", "--data-dir", data.toString(), "--duration", "15s",
        "--model", TestFiles.stories260K().toString(),
        "--kafka-port", String.valueOf(EmbeddedKafka.freePort()), "--ui-port", String.valueOf(EmbeddedKafka.freePort()),
        "--metrics-port", String.valueOf(EmbeddedKafka.freePort()), "--serve-port", "0"};
    String first = runToTheEnd(tmp.resolve("console-1.txt"), args);
    String second = runToTheEnd(tmp.resolve("console-2.txt"), args);
    assertTrue(second.contains("restoring savepoint"), second);

    String key = Files.readAllLines(data.resolve("keys/signing.key")).get(1);
    for (String console : List.of(first, second)) {
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
      assertFalse(log.contains(key), "the private signing key is in the log file");
      // the console: the demo's lines, and no library warning this run is known to print
      assertTrue(console.contains("held-out loss, base model -> latest version:"), console);
      for (String wolf : List.of("data loss", "already fenced", "TransactionCoordinator", "Name collision",
          " INFO ")) {
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
  }

  private static String runToTheEnd(Path console, String... args) throws Exception {
    // BONESTREAM_LOG_FILE empty: the default log file, as a user's demo has it
    try (CliProcess demo = CliProcess.start(console, java.util.Map.of("BONESTREAM_LOG_FILE", ""), args)) {
      int exit = demo.waitFor(150);
      assertEquals(0, exit, "the demo did not end well:\n" + demo.output());
      return demo.output();
    }
  }
}
