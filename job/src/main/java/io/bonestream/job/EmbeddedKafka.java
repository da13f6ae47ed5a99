package io.bonestream.job;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.FileTrees;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A real single-node Kafka broker in KRaft mode (broker and controller in one), running in this
 * JVM: for the demo and the integration tests. Storage is formatted on first start; a broker
 * started again on the same folder keeps its topics, records, offsets and transactions.
 * {@link #close()} stops the broker and, if asked, deletes its data.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private static final int NODE_ID = 1;

  private final KafkaRaftServer server;
  private final String bootstrapServers;
  private final Path dataDir;
  private final boolean deleteOnClose;

  private EmbeddedKafka(KafkaRaftServer server, String bootstrapServers, Path dataDir, boolean deleteOnClose) {
    this.server = server;
    this.bootstrapServers = bootstrapServers;
    this.dataDir = dataDir;
    this.deleteOnClose = deleteOnClose;
  }

  /** Starts a broker on {@code port} (0 = any free port) with its data in {@code dataDir}. */
  public static EmbeddedKafka start(int port, Path dataDir, boolean deleteOnClose) {
    return start(port, dataDir, deleteOnClose, Map.of());
  }

  /** As {@link #start(int, Path, boolean)}, with these broker settings over the defaults. */
  public static EmbeddedKafka start(int port, Path dataDir, boolean deleteOnClose, Map<String, String> settings) {
    try {
      Files.createDirectories(dataDir);
      int brokerPort = port == 0 ? freePort() : port;
      int controllerPort = freePort();
      String logDir = dataDir.toAbsolutePath().toString();
      Properties p = new Properties();
      p.put("process.roles", "broker,controller");
      p.put("node.id", String.valueOf(NODE_ID));
      p.put("controller.quorum.voters", NODE_ID + "@localhost:" + controllerPort);
      p.put("listeners", "PLAINTEXT://localhost:" + brokerPort + ",CONTROLLER://localhost:" + controllerPort);
      p.put("advertised.listeners", "PLAINTEXT://localhost:" + brokerPort);
      p.put("controller.listener.names", "CONTROLLER");
      p.put("inter.broker.listener.name", "PLAINTEXT");
      p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
      p.put("log.dirs", logDir);
      p.put("num.partitions", "1");
      p.put("default.replication.factor", "1");
      p.put("min.insync.replicas", "1");
      p.put("offsets.topic.replication.factor", "1");
      p.put("offsets.topic.num.partitions", "1");
      p.put("transaction.state.log.replication.factor", "1");
      p.put("transaction.state.log.min.isr", "1");
      p.put("transaction.state.log.num.partitions", "1");
      p.put("share.coordinator.state.topic.replication.factor", "1");
      p.put("share.coordinator.state.topic.min.isr", "1");
      p.put("group.initial.rebalance.delay.ms", "0");
      p.put("controlled.shutdown.enable", "false");
      p.putAll(settings);
      KafkaConfig config = KafkaConfig.fromProps(p, false);
      new Formatter()
          .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
          .setClusterId(clusterId(dataDir))
          .setNodeId(NODE_ID)
          .setDirectories(List.of(logDir))
          .setMetadataLogDirectory(logDir)
          .setControllerListenerName("CONTROLLER")
          .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
          .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
          .setIgnoreFormatted(true)
          .run();
      KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
      server.startup();
      EmbeddedKafka kafka = new EmbeddedKafka(server, "localhost:" + brokerPort, dataDir, deleteOnClose);
      kafka.awaitReady();
      return kafka;
    } catch (IOException e) {
      throw new BonestreamException("cannot start the embedded Kafka broker: " + e.getMessage());
    } catch (RuntimeException e) {
      // Kafka wraps the BindException ("Received a fatal error while waiting for ... Acceptors"): look down the chain
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t.getMessage() != null && t.getMessage().contains("Address already in use")) {
          throw new BonestreamException("cannot start the embedded Kafka broker: port " + port + " is in use");
        }
      }
      throw e;
    } catch (Exception e) {
      throw new BonestreamException("cannot start the embedded Kafka broker: " + e);
    }
  }

  public String bootstrapServers() {
    return bootstrapServers;
  }

  public Admin admin() {
    return Admin.create(Map.of("bootstrap.servers", bootstrapServers));
  }

  /** Creates topics (idempotent), optionally log-compacted, and waits until they are visible. */
  public void createTopic(String name, int partitions, boolean compacted) {
    createTopic(bootstrapServers, name, partitions, compacted);
  }

  /** {@link #createTopic(String, int, boolean)} on the broker at {@code bootstrapServers}. */
  public static void createTopic(String bootstrapServers, String name, int partitions, boolean compacted) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrapServers))) {
      NewTopic t = new NewTopic(name, partitions, (short) 1);
      if (compacted) {
        t.configs(Map.of("cleanup.policy", "compact"));
      }
      try {
        admin.createTopics(List.of(t)).all().get(30, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        if (!(e.getCause() instanceof TopicExistsException)) {
          throw e;
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!admin.listTopics().names().get(10, TimeUnit.SECONDS).contains(name)) {
        if (System.nanoTime() > deadline) {
          throw new BonestreamException("topic " + name + " did not appear");
        }
        Thread.sleep(50);
      }
    } catch (BonestreamException e) {
      throw e;
    } catch (Exception e) {
      throw new BonestreamException("cannot create topic " + name + ": " + e);
    }
  }

  private void awaitReady() throws Exception {
    try (Admin admin = admin()) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (true) {
        try {
          if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
            return;
          }
        } catch (Exception e) {
          if (System.nanoTime() > deadline) {
            throw e;
          }
        }
        Thread.sleep(50);
      }
    }
  }

  @Override
  public void close() {
    try {
      server.shutdown();
      server.awaitShutdown();
    } finally {
      if (deleteOnClose) {
        try {
          FileTrees.delete(dataDir);
        } catch (IOException e) {
          throw new UncheckedIOException("cannot delete the broker's data in " + dataDir, e);
        }
      }
    }
  }

  /**
   * The cluster id of a data folder formatted before (so a restarted broker keeps its topics and
   * offsets), or a new one.
   */
  private static String clusterId(Path dataDir) throws IOException {
    Path meta = dataDir.resolve("meta.properties");
    if (Files.exists(meta)) {
      Properties p = new Properties();
      try (var in = Files.newInputStream(meta)) {
        p.load(in);
      }
      String id = p.getProperty("cluster.id");
      if (id != null && !id.isBlank()) {
        return id;
      }
    }
    return Uuid.randomUuid().toString();
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

}
