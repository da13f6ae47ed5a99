package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LoggerContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The console of demo, run and serve: the library messages known to be harmless stay off it (the exact
 * words Flink 2.2's Kafka connector 5.0 and Kafka 4.2's broker log, as seen on a demo restarted on its
 * --data-dir), with a hint where the words mislead; a real library error still reaches it; the log file
 * gets everything.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ConsoleLogTest {
  static final String COMMITTER = "org.apache.flink.connector.kafka.sink.internal.KafkaCommitter";
  static final String COORDINATOR = "kafka.coordinator.transaction.TransactionCoordinator";
  /** As a restarted demo logged it (the connector's branch for transactional ids that are not reused). */
  static final String FENCED = "Unable to commit transaction (CommitRequestImpl{state=RECEIVED, numRetries=0, "
      + "committable=KafkaCommittable{producerId=78, epoch=0, transactionalId='bonestream-demo-gated-1-13', "
      + "producer=null}}) because its producer is already fenced. This means that you either have a different "
      + "producer with the same 'transactional.id' (this is unlikely with the 'KafkaSink' as all generated ids are "
      + "unique and shouldn't be reused) or recovery took longer than 'transaction.timeout.ms' (600000ms). In both "
      + "cases this most likely signals data loss, please consult the Flink documentation for more details.";
  /** The connector's other branch (reused transactional ids), logged at WARN. */
  static final String FENCED_REUSED = "Unable to commit transaction (CommitRequestImpl{state=RECEIVED}) because its "
      + "producer is already fenced. If this warning appears as part of the recovery of a checkpoint, it is expected "
      + "in some cases (e.g., aborted checkpoints in previous attempt). If it's outside of recovery, this means that "
      + "you either have a different sink with the same 'transactional.id' or recovery took longer than "
      + "'transaction.timeout.ms' (600000ms). In both cases this most likely signals data loss, please consult the "
      + "Flink documentation for more details.";
  static final String COMPLETE_COMMIT = "[TransactionCoordinator id=1] TransactionalId: bonestream-demo-dlq-0-1's "
      + "state is COMPLETE_COMMIT, but received transaction marker result to send: COMMIT";
  /** The committer's words for a transaction that really failed: never hidden. */
  static final String REAL_LOSS = "Transaction (CommitRequestImpl{state=RECEIVED}) encountered error and data has "
      + "been potentially lost.";

  @TempDir Path tmp;

  @AfterEach
  void restoreTheTestLogging() {
    ((LoggerContext) LogManager.getContext(false)).reconfigure(); // log4j2-test.xml again
  }

  @Test
  void theKnownMessagesAreBenignAndOnlyThey() {
    assertNotNull(BenignLibraryMessages.match(COMMITTER, "ERROR", FENCED));
    assertEquals(BenignLibraryMessages.FENCED_HINT, BenignLibraryMessages.match(COMMITTER, "ERROR", FENCED).hint());
    assertNotNull(BenignLibraryMessages.match(COMMITTER, "WARN", FENCED_REUSED));
    assertNotNull(BenignLibraryMessages.match(COORDINATOR, "WARN", COMPLETE_COMMIT));
    assertNotNull(BenignLibraryMessages.match(COORDINATOR, "WARN", COMPLETE_COMMIT.replace("COMMIT", "ABORT")));
    assertNotNull(BenignLibraryMessages.match("ai.djl.util.cuda.CudaUtils", "WARN", "Failed to detect GPU count"));
    assertNotNull(BenignLibraryMessages.match("org.apache.flink.metrics.MetricGroup", "WARN",
        "Name collision: Group already contains a Metric with the name 'pendingCommittables'."));
    String executor = "org.apache.flink.runtime.rpc.RpcEndpoint$MainThreadExecutor";
    assertNotNull(BenignLibraryMessages.match(executor, "WARN", "The scheduled executor service is shutdown and "
        + "ignores the command org.apache.flink.runtime.heartbeat.HeartbeatManagerSenderImpl@4de854bc"));
    // the same loggers' real problems
    assertNull(BenignLibraryMessages.match(executor, "WARN", "Some other executor problem"));
    assertNull(BenignLibraryMessages.match(COMMITTER, "ERROR", REAL_LOSS));
    assertNull(BenignLibraryMessages.match(COMMITTER, "ERROR", "Unable to commit transaction (x) because it's in an "
        + "invalid state. Most likely the transaction has been aborted for some reason."));
    assertNull(BenignLibraryMessages.match(COORDINATOR, "WARN", "[TransactionCoordinator id=1] TransactionalId: t's "
        + "state is ONGOING, but received transaction marker result to send: COMMIT"));
    assertNull(BenignLibraryMessages.match(COORDINATOR, "ERROR", COMPLETE_COMMIT), "above the level covered");
    assertNull(BenignLibraryMessages.match("ai.djl.util.cuda.CudaUtils", "ERROR", "Failed to detect GPU count"));
    // a logger whose name merely starts like a listed one, and bonestream's own lines
    assertNull(BenignLibraryMessages.match("ai.djlx.Foo", "WARN", "x"));
    assertNull(BenignLibraryMessages.match("io.bonestream.operators.train.AdapterTrainer", "ERROR", FENCED));
  }

  @Test
  void theConsoleShowsRealProblemsAndAHintTheFileEverything() throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    Path file = ConsoleLog.file(null, tmp.resolve("logs"), "demo", LocalDateTime.of(2026, 12, 6, 12, 30, 5));
    assertEquals(tmp.resolve("logs/bonestream-demo-20261206-123005.log").toAbsolutePath(), file);
    ConsoleLog.apply(file, false, new PrintStream(console, true, StandardCharsets.UTF_8));
    var fenced = new ProducerFencedException("There is a newer producer with the same transactionalId which fences "
        + "the current one.");
    LogManager.getLogger(COMMITTER).error(FENCED, fenced);
    LogManager.getLogger(COMMITTER).error(FENCED.replace("gated-1-13", "dlq-0-13"), fenced);
    LogManager.getLogger(COORDINATOR).warn(COMPLETE_COMMIT);
    LogManager.getLogger("org.apache.flink.metrics.MetricGroup").warn("Name collision: Group already contains a "
        + "Metric with the name 'pendingCommittables'. Metric will not be reported.");
    LogManager.getLogger(COMMITTER).error(REAL_LOSS, new IllegalStateException("broker gone"));
    LogManager.getLogger("org.apache.flink.runtime.taskmanager.Task").warn("Task failed: out of disk");
    LogManager.getLogger("org.apache.flink.runtime.checkpoint.CheckpointCoordinator").info("Completed checkpoint 7");
    LogManager.getLogger("io.bonestream.operators.train.AdapterTrainer").warn("adapter a: the eval gate held back");
    LogManager.getLogger("io.bonestream.operators.publish.PublishedVersions").info("read bonestream.adapters");
    ((LoggerContext) LogManager.getContext(false)).reconfigure(); // closes the file

    String shown = console.toString(StandardCharsets.UTF_8);
    assertFalse(shown.contains("data loss"), shown);
    assertFalse(shown.contains("already fenced"), shown);
    assertFalse(shown.contains("COMPLETE_COMMIT"), shown);
    assertFalse(shown.contains("Name collision"), shown);
    assertFalse(shown.contains("Completed checkpoint"), "INFO stays in the file:\n" + shown);
    assertFalse(shown.contains("read bonestream.adapters"), shown);
    assertEquals(1, shown.split(" note: ", -1).length - 1, "the hint, once:\n" + shown);
    assertTrue(shown.contains(" note: " + BenignLibraryMessages.FENCED_HINT), shown);
    assertTrue(shown.contains("ERROR KafkaCommitter - " + REAL_LOSS), shown);
    assertTrue(shown.contains("IllegalStateException: broker gone"), "with its stack trace:\n" + shown);
    assertTrue(shown.contains("WARN  Task - Task failed: out of disk"), shown);
    assertTrue(shown.contains("WARN  AdapterTrainer - adapter a: the eval gate held back"), shown);

    String logged = Files.readString(file);
    for (String s : new String[] {FENCED, "dlq-0-13", "ProducerFencedException: There is a newer producer",
        COMPLETE_COMMIT, "Name collision", REAL_LOSS, "broker gone", "Task failed: out of disk",
        "INFO  [" + Thread.currentThread().getName() + "] org.apache.flink.runtime.checkpoint.CheckpointCoordinator - Completed checkpoint 7",
        "the eval gate held back", "read bonestream.adapters"}) {
      assertTrue(logged.contains(s), s + " is not in the file:\n" + logged);
    }
    assertFalse(logged.contains(" note: "), "the hint is the console's");
  }

  @Test
  void aDashPutsTheWholeLogOnTheConsole() {
    assertNull(ConsoleLog.file("-", tmp, "serve", LocalDateTime.now()));
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    ConsoleLog.apply(null, true, new PrintStream(console, true, StandardCharsets.UTF_8));
    LogManager.getLogger(COMMITTER).error(FENCED);
    LogManager.getLogger("org.apache.flink.runtime.checkpoint.CheckpointCoordinator").info("Completed checkpoint 7");
    String shown = console.toString(StandardCharsets.UTF_8);
    assertTrue(shown.contains(" note: " + BenignLibraryMessages.FENCED_HINT), shown);
    assertTrue(shown.contains(FENCED), "the whole log, as the library said it:\n" + shown);
    assertTrue(shown.contains("INFO  CheckpointCoordinator - Completed checkpoint 7"), shown);
    assertEquals(0, tmp.toFile().list().length, "no file");
  }

  @Test
  void aLogFileThatCannotBeWrittenIsOneClearError() throws Exception {
    Files.writeString(tmp.resolve("a-file"), "");
    var e = assertThrows(BonestreamException.class,
        () -> ConsoleLog.file(tmp.resolve("a-file/x.log").toString(), tmp, "run", LocalDateTime.now()));
    assertTrue(e.getMessage().startsWith("cannot write the log file " + tmp.resolve("a-file/x.log")), e.getMessage());
    assertTrue(e.getMessage().contains("--log-file -"), e.getMessage());
    var empty = assertThrows(BonestreamException.class, () -> ConsoleLog.file(" ", tmp, "run", LocalDateTime.now()));
    assertTrue(empty.getMessage().contains("--log-file is empty"), empty.getMessage());
    Path named = ConsoleLog.file(tmp.resolve("deep/er/my.log").toString(), tmp, "run", LocalDateTime.now());
    assertTrue(Files.isRegularFile(named), "made with its folders: " + named);
  }
}
