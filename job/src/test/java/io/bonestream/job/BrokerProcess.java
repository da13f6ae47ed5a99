package io.bonestream.job;

import io.bonestream.job.cluster.JvmProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A Kafka broker ({@link EmbeddedKafka}) in a JVM of its own, so that a test can crash it with
 * SIGKILL (no shutdown, no flush, as a power cut or an OOM kill would) and start it again on the
 * same port and data folder.
 */
final class BrokerProcess implements AutoCloseable {
  private static final String READY = "broker ready at ";

  private final JvmProcess process;
  private final String bootstrapServers;

  private BrokerProcess(JvmProcess process, String bootstrapServers) {
    this.process = process;
    this.bootstrapServers = bootstrapServers;
  }

  /** Starts a broker on {@code port} with its data in {@code dataDir}; returns once it answers. */
  static BrokerProcess start(int port, Path dataDir, Path log) {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    JvmProcess p = JvmProcess.start("kafka-broker", List.of(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), String.valueOf(port), dataDir.toAbsolutePath().toString()), Map.of(), log);
    long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
    while (true) {
      String out;
      try {
        out = Files.exists(log) ? Files.readString(log) : "";
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      int at = out.lastIndexOf(READY);
      if (at >= 0 && out.indexOf('\n', at) > 0) {
        return new BrokerProcess(p, out.substring(at + READY.length(), out.indexOf('\n', at)).trim());
      }
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.close();
        throw new AssertionError("the broker process did not start:\n" + p.tail(40));
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        p.close();
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }
  }

  String bootstrapServers() {
    return bootstrapServers;
  }

  void createTopic(String name, int partitions, boolean compacted) {
    EmbeddedKafka.createTopic(bootstrapServers, name, partitions, compacted);
  }

  /** SIGKILL: the broker gets no chance to close its logs or tell its clients. */
  void kill() {
    process.kill();
  }

  @Override
  public void close() {
    process.close();
  }

  /** The broker process: starts the broker, says where it listens, and runs until killed. */
  public static final class Main {
    private Main() {}

    public static void main(String[] args) throws InterruptedException {
      EmbeddedKafka kafka = EmbeddedKafka.start(Integer.parseInt(args[0]), Path.of(args[1]), false);
      System.out.println(READY + kafka.bootstrapServers());
      System.out.flush();
      Thread.currentThread().join();
    }
  }
}
