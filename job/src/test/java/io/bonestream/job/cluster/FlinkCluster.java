package io.bonestream.job.cluster;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Flink session cluster of separate processes on this machine: a JobManager and TaskManagers,
 * each its own JVM on the lib folder of job/flink-lib, started with {@code
 * job/flink-lib/bin/flink-process} (as docs/cluster.md shows) and reading a config.yaml made from
 * {@code job/flink-lib/conf/config.yaml} with free ports and folders of its own. {@link #close()}
 * kills every process.
 */
public final class FlinkCluster implements AutoCloseable {
  private final Path home;
  private final Path lib;
  private final Path work;
  private final Path conf;
  private final FlinkConfigFile config;
  private final String restUrl;
  private final FlinkRestClient rest;
  private final Map<String, JvmProcess> taskManagers = new LinkedHashMap<>();
  private JvmProcess jobManager;
  private int nextTaskManager = 1;

  private FlinkCluster(Builder b) {
    this.home = b.home.toAbsolutePath();
    this.lib = home.resolve("target/lib");
    this.work = b.work.toAbsolutePath();
    this.conf = work.resolve("conf");
    int restPort = freePort();
    this.restUrl = "http://localhost:" + restPort;
    this.config = FlinkConfigFile.read(home.resolve("conf/config.yaml"))
        .set("jobmanager.rpc.port", Integer.toString(freePort()))
        .set("rest.port", Integer.toString(restPort))
        .set("taskmanager.numberOfTaskSlots", Integer.toString(b.slotsPerTaskManager))
        .set("parallelism.default", Integer.toString(b.slotsPerTaskManager))
        .set("execution.checkpointing.dir", work.resolve("checkpoints").toUri().toString())
        .set("execution.checkpointing.savepoint-dir", work.resolve("savepoints").toUri().toString())
        .set("web.upload.dir", work.resolve("jars").toString())
        .set("io.tmp.dirs", work.resolve("tmp").toString())
        // TaskManagers start beside the JobManager (see start): one that finds no JobManager yet tries again
        // in 1 s, not Flink's default 10 s
        .set("cluster.registration.error-delay", "1000");
    String opts = config.get("env.java.opts.all");
    config.set("env.java.opts.all", (opts == null ? "" : opts + " ") + String.join(" ", b.javaOptions));
    this.rest = FlinkRestClient.builder().baseUri(restUrl).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public String restUrl() {
    return restUrl;
  }

  public FlinkRestClient rest() {
    return rest;
  }

  private FlinkCluster start(int taskManagerCount) {
    config.write(conf.resolve("config.yaml"));
    try {
      Files.copy(home.resolve("conf/log4j.properties"), conf.resolve("log4j.properties"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    jobManager = process("jobmanager", List.of("jobmanager", "-D", "metrics.reporter.prom.port=" + freePort()),
        Map.of());
    // the JVMs start at once: a TaskManager reaches the JobManager at its configured RPC port once it is up
    for (int i = 0; i < taskManagerCount; i++) {
      startTaskManager();
    }
    awaitRest(Duration.ofSeconds(60));
    awaitTaskManagers(taskManagerCount, Duration.ofSeconds(60));
    return this;
  }

  /** Starts one more TaskManager; returns its resource id (its id in the REST API). */
  public synchronized String startTaskManager() {
    String id = "tm-" + nextTaskManager++;
    taskManagers.put(id, process(id, List.of("taskmanager", "-D", "taskmanager.resource-id=" + id,
        "-D", "metrics.reporter.prom.port=" + freePort()), Map.of("OMP_NUM_THREADS", "1")));
    return id;
  }

  /** kill -9 of a TaskManager's process. */
  public synchronized void killTaskManager(String id) {
    JvmProcess p = taskManagers.remove(id);
    if (p == null) {
      throw new IllegalArgumentException("no live TaskManager " + id + "; live: " + taskManagers.keySet());
    }
    p.kill();
  }

  public synchronized List<String> taskManagerIds() {
    return List.copyOf(taskManagers.keySet());
  }

  /** Waits until exactly {@code n} TaskManagers are registered with the JobManager. */
  public void awaitTaskManagers(int n, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    int registered = -1;
    while (System.nanoTime() < deadline) {
      checkJobManager();
      registered = rest.taskManagers().size();
      if (registered == n) {
        return;
      }
      sleep(200);
    }
    throw new IllegalStateException(registered + " TaskManagers registered after " + timeout.toSeconds()
        + " s, expected " + n);
  }

  /**
   * Runs Flink's command line client ({@code flink run ...}, {@code flink stop ...}) with this
   * cluster's conf folder; returns when it exits.
   */
  public JvmProcess runClient(String name, Duration timeout, String... args) {
    List<String> all = new ArrayList<>(List.of("client"));
    all.addAll(List.of(args));
    JvmProcess p = process(name, all, Map.of());
    if (p.waitFor(timeout) == -1) {
      p.kill();
      throw new IllegalStateException(name + " did not finish in " + timeout.toSeconds() + " s:\n" + p.tail(30));
    }
    return p;
  }

  /** {@code bin/flink-process ARGS} with this cluster's conf, the test's JVM, a log file per process. */
  private JvmProcess process(String name, List<String> args, Map<String, String> env) {
    List<String> command = new ArrayList<>(List.of("bash", home.resolve("bin/flink-process").toString()));
    command.addAll(args);
    Map<String, String> all = new LinkedHashMap<>(env);
    all.put("FLINK_CONF_DIR", conf.toString());
    all.put("FLINK_LIB_DIR", lib.toString());
    all.put("FLINK_LOG_FILE", work.resolve("log/" + name + ".log").toString());
    all.put("JAVA_HOME", System.getProperty("java.home"));
    return JvmProcess.start(name, command, all, work.resolve("log/" + name + ".out"));
  }

  private void awaitRest(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      checkJobManager();
      try {
        rest.taskManagers();
        return;
      } catch (BonestreamException e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("the JobManager's REST API did not come up:\n" + jobManager.tail(30), e);
        }
      }
      sleep(200);
    }
  }

  private void checkJobManager() {
    if (!jobManager.isAlive()) {
      throw new IllegalStateException("the JobManager exited:\n" + jobManager.tail(40) + "\n"
          + tail(work.resolve("log/jobmanager.log"), 40));
    }
  }

  private static String tail(Path file, int lines) {
    try {
      List<String> all = Files.readAllLines(file);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(no " + file + ")";
    }
  }

  @Override
  public synchronized void close() {
    taskManagers.values().forEach(JvmProcess::close);
    taskManagers.clear();
    if (jobManager != null) {
      jobManager.close();
    }
  }

  static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void sleep(long ms) {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted");
    }
  }

  /** Settings of a cluster; {@link #start()} validates them and starts it. */
  public static final class Builder {
    private Path home = Path.of(System.getProperty("bonestream.flink.home", "flink-lib"));
    private Path work;
    private int taskManagers = 2;
    private int slotsPerTaskManager = 2;
    private final List<String> javaOptions = new ArrayList<>();

    /**
     * The job/flink-lib folder: bin/flink-process, conf/ (the config.yaml template) and target/lib;
     * default: the system property bonestream.flink.home.
     */
    public Builder home(Path v) { home = v; return this; }
    /** Where the cluster keeps its conf, logs, checkpoints, savepoints, uploaded jars. */
    public Builder workDir(Path v) { work = v; return this; }
    public Builder taskManagers(int v) { taskManagers = v; return this; }
    public Builder slotsPerTaskManager(int v) { slotsPerTaskManager = v; return this; }
    /** JVM options added to env.java.opts.all. */
    public Builder javaOption(String v) { javaOptions.add(v); return this; }

    public FlinkCluster start() {
      try (var jars = Files.list(home.resolve("target/lib"))) {
        if (jars.noneMatch(f -> f.getFileName().toString().startsWith("flink-runtime-"))) {
          throw new IllegalStateException("no Flink in " + home.resolve("target/lib"));
        }
      } catch (IOException e) {
        throw new IllegalStateException("no Flink lib folder at " + home.resolve("target/lib")
            + " (mvn package builds job/flink-lib)", e);
      }
      if (work == null || taskManagers < 0 || slotsPerTaskManager < 1) {
        throw new IllegalArgumentException("a cluster needs a work folder, ≥ 0 TaskManagers, ≥ 1 slot each");
      }
      FlinkCluster cluster = new FlinkCluster(this);
      try {
        return cluster.start(taskManagers);
      } catch (RuntimeException e) {
        cluster.close();
        throw e;
      }
    }
  }
}
