package io.bonestream.cli;

import java.util.List;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Library log messages (Flink, Kafka, ...) known to be harmless where bonestream runs: kept out of the
 * console of {@code demo}, {@code run} and {@code serve} (and of the other commands), kept in the log
 * file. Each entry says why; where the library's own words would alarm (a "data loss" that is none),
 * the console shows the entry's hint instead, once. A message of a listed logger that the entry's
 * pattern does not match, or above the entry's level, still reaches the console.
 */
final class BenignLibraryMessages {
  /**
   * One known message. {@code logger}: a logger name or its prefix (a package); {@code atMost}: the most
   * severe level this entry covers ("WARN" or "ERROR"); {@code message}: a regular expression the whole
   * message must match (null: any message of the logger up to {@code atMost}); {@code hint}: the line
   * the console shows instead, once (null: none).
   */
  record Entry(String logger, String atMost, @Nullable Pattern message, String reason, @Nullable String hint) {
    boolean matches(String loggerName, String level, String text) {
      return (loggerName.equals(logger) || loggerName.startsWith(logger + "."))
          && severity(level) <= severity(atMost)
          && (message == null || message.matcher(text).matches());
    }
  }

  static final String FENCED_HINT = "after the restart, Flink committed again a Kafka transaction that had been "
      + "committed before it, and Kafka refused with a fenced producer. The KafkaCommitter error this leaves in the "
      + "log file is expected: nothing is lost after a stop with Ctrl-C or SIGTERM, or a restart within the "
      + "transaction timeout (10 min by default); see docs/recovery.md";

  static final List<Entry> ENTRIES = List.of(
      new Entry("org.apache.flink.connector.kafka.sink.internal.KafkaCommitter", "ERROR",
          Pattern.compile("Unable to commit transaction \\(.*\\) because its producer is already fenced\\..*",
              Pattern.DOTALL),
          "after a restore, Flink's committer commits the restored checkpoint's transactions again; those a "
              + "savepoint (or a commit just before a kill) already committed are answered with a fenced producer "
              + "(Kafka 4 bumps the producer's epoch when a transaction ends). It is a loss only when the job was down "
              + "longer than the transaction timeout, a known limit in docs/recovery.md",
          FENCED_HINT),
      new Entry("kafka.coordinator.transaction.TransactionCoordinator", "WARN",
          Pattern.compile("(\\[TransactionCoordinator id=\\d+\\] )?TransactionalId: .*'s state is "
              + "COMPLETE_(COMMIT|ABORT), but received transaction marker result to send: (COMMIT|ABORT)"),
          "the embedded broker (demo, broker) is asked to end a transaction that has already ended the same "
              + "way: a committer's retry, or a restored job re-committing a savepoint's transaction",
          null),
      new Entry("ai.djl", "WARN", null, "DJL probes for CUDA on every start and warns when there is none", null),
      new Entry("org.apache.pekko", "WARN", null,
          "Flink's RPC system (Pekko) in a local runtime: remoting notices at start and stop", null),
      new Entry("org.apache.flink.metrics", "WARN", null,
          "Flink's connectors register some metrics twice and say so on every start", null),
      new Entry("org.apache.flink.runtime.metrics", "WARN", null,
          "Flink's connectors register some metrics twice and say so on every start", null),
      new Entry("org.apache.flink.runtime.security.token", "WARN", null,
          "a local Flink runtime has no delegation tokens", null),
      new Entry("org.apache.flink.runtime.rpc.RpcEndpoint$MainThreadExecutor", "WARN",
          Pattern.compile("The scheduled executor service is shutdown and ignores the command .*", Pattern.DOTALL),
          "a local Flink runtime stopping: a heartbeat scheduled while its RPC endpoint shuts down is dropped", null),
      new Entry("org.apache.flink.runtime.webmonitor.WebMonitorUtils", "WARN", null,
          "a local Flink runtime has no log file for the web UI to show", null),
      new Entry("org.apache.kafka.controller.QuorumController", "WARN", null,
          "the embedded broker's controller: first-start notices", null),
      new Entry("org.apache.kafka.clients.NetworkClient", "WARN", null,
          "a client retrying a connection: at the embedded broker's start and stop, and while a broker "
              + "restarts (a broker that stays away fails the job or the subscriber, which says so)", null),
      new Entry("org.apache.flink.streaming.api.operators.collect", "WARN", null,
          "reading a checkpoint before a restore collects a bounded job's output; it ends before the "
              + "fetcher's last status poll, which it reports as warnings", null),
      new Entry("org.apache.flink.runtime.checkpoint.CheckpointFailureManager", "WARN", null,
          "stopping with a savepoint aborts the periodic checkpoint in flight, with a stack trace", null),
      new Entry("org.bytedeco.javacpp.Loader", "WARN",
          Pattern.compile("Versions of org\\.bytedeco:javacpp:.* do not match\\..*", Pattern.DOTALL),
          "JavaCPP 1.5.13 (CUDA presets) beside ND4J's OpenBLAS presets 1.5.7: a known, checked pairing "
              + "(docs/gpu.md)", null));

  private BenignLibraryMessages() {}

  /** The entry that covers this message, or null: a message to show. bonestream's own are never covered. */
  static @Nullable Entry match(String loggerName, String level, String message) {
    if (loggerName.startsWith("io.bonestream.")) {
      return null;
    }
    for (Entry e : ENTRIES) {
      if (e.matches(loggerName, level, message)) {
        return e;
      }
    }
    return null;
  }

  private static int severity(String level) {
    return switch (level) {
      case "FATAL" -> 5;
      case "ERROR" -> 4;
      case "WARN" -> 3;
      case "INFO" -> 2;
      case "DEBUG" -> 1;
      default -> 0;
    };
  }
}
