package io.bonestream.job.cluster;

import io.bonestream.engine.BonestreamException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Flink session cluster of separate processes on this machine: a JobManager
 * ({@code StandaloneSessionClusterEntrypoint}) and TaskManagers ({@code TaskManagerRunner}), each
 * its own JVM on the lib folder of {@code job/flink-lib}, reading a config.yaml made from
 * {@code job/flink-lib/conf/config.yaml} with free ports and folders of its own. The processes are
 * started as Flink's scripts start them: JVM memory flags from Flink's {@code BashJavaUtils},
 * {@code env.java.opts.*} from the config, one log file each, OMP_NUM_THREADS=1 per TaskManager.
 * {@link #close()} kills them all.
 */
public final class FlinkCluster implements AutoCloseable {
  public static final String JOB_MANAGER = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
  public static final String TASK_MANAGER = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";
  public static final String CLIENT = "org.apache.flink.client.cli.CliFrontend";

  private final Path lib;
  private final Path confTemplate;
  private final Path work;
  private final Path conf;
  private final FlinkConfigFile config;
  private final String restUrl;
  private final FlinkRestClient rest;
  private final Map<String, JvmProcess> taskManagers = new LinkedHashMap<>();
  private JvmProcess jobManager;
  private List<String> tmJvm;
  private List<String> tmDynamic;
  private int nextTaskManager = 1;

  private FlinkCluster(Builder b) {
    this.lib = b.lib.toAbsolutePath();
    this.confTemplate = b.confTemplate.toAbsolutePath();
    this.work = b.work.toAbsolutePath();
    this.conf = b.work.resolve("conf");
    int restPort = freePort();
    this.restUrl = "http://localhost:" + restPort;
    this.config = FlinkConfigFile.read(b.confTemplate.resolve("config.yaml"))
        .set("jobmanager.rpc.port", Integer.toString(freePort()))
        .set("rest.port", Integer.toString(restPort))
        .set("taskmanager.numberOfTaskSlots", Integer.toString(b.slotsPerTaskManager))
        .set("parallelism.default", Integer.toString(b.slotsPerTaskManager))
        .set("execution.checkpointing.dir", work.resolve("checkpoints").toUri().toString())
        .set("execution.checkpointing.savepoint-dir", work.resolve("savepoints").toUri().toString())
        .set("web.upload.dir", work.resolve("jars").toString())
        .set("io.tmp.dirs", work.resolve("tmp").toString());
    String opts = unquote(config.get("env.java.opts.all"));
    config.set("env.java.opts.all", (opts == null ? "" : opts + " ") + String.join(" ", b.javaOptions));
    b.settings.forEach(config::set);
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

  /** The folder holding config.yaml and log4j.properties (--configDir, FLINK_CONF_DIR). */
  public Path confDir() {
    return conf;
  }

  public Path workDir() {
    return work;
  }

  /** The classpath of every Flink process: the lib folder. */
  public String classpath() {
    return lib.resolve("*").toString();
  }

  private FlinkCluster start(int taskManagerCount) {
    config.write(conf.resolve("config.yaml"));
    try {
      Files.createDirectories(work.resolve("log"));
      Files.copy(confTemplate.resolve("log4j.properties"), conf.resolve("log4j.properties"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    List<String> jmResources = resourceParams("GET_JM_RESOURCE_PARAMS");
    List<String> tmResources = resourceParams("GET_TM_RESOURCE_PARAMS");
    tmJvm = split(tmResources.get(0));
    tmDynamic = split(tmResources.get(1));
    List<String> jmArgs = new ArrayList<>(List.of("--configDir", conf.toString(),
        "-D", "metrics.reporter.prom.port=" + freePort()));
    jmArgs.addAll(split(jmResources.get(1)));
    jobManager = JvmProcess.start("jobmanager", jvmArgs(split(jmResources.get(0)), "jobmanager"),
        classpath(), JOB_MANAGER, jmArgs, Map.of(), work.resolve("log/jobmanager.out"));
    awaitRest(Duration.ofSeconds(60));
    for (int i = 0; i < taskManagerCount; i++) {
      startTaskManager();
    }
    awaitTaskManagers(taskManagerCount, Duration.ofSeconds(60));
    return this;
  }

  /** Starts one more TaskManager; returns its resource id (the id in the REST API). */
  public synchronized String startTaskManager() {
    String id = "tm-" + nextTaskManager++;
    List<String> args = new ArrayList<>(List.of("--configDir", conf.toString(),
        "-D", "taskmanager.resource-id=" + id, "-D", "metrics.reporter.prom.port=" + freePort()));
    args.addAll(tmDynamic);
    // one OpenMP/OpenBLAS thread per TaskManager: its slots already run in parallel
    taskManagers.put(id, JvmProcess.start(id, jvmArgs(tmJvm, id), classpath(), TASK_MANAGER, args,
        Map.of("OMP_NUM_THREADS", "1"), work.resolve("log/" + id + ".out")));
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
   * Runs Flink's command line client ({@code flink ...}) in its own JVM with FLINK_CONF_DIR set to
   * this cluster's conf folder, as the {@code flink} script does; returns when it exits.
   */
  public JvmProcess runClient(String name, Duration timeout, String... args) {
    List<String> jvm = new ArrayList<>(javaOptions("client"));
    jvm.add("-Dlog.file=" + work.resolve("log/" + name + ".log"));
    jvm.add("-Dlog4j.configurationFile=" + conf.resolve("log4j.properties").toUri());
    JvmProcess p = JvmProcess.start(name, jvm, classpath(), CLIENT, Arrays.asList(args),
        Map.of("FLINK_CONF_DIR", conf.toString()), work.resolve("log/" + name + ".out"));
    if (p.waitFor(timeout) == -1) {
      p.kill();
      throw new IllegalStateException(name + " did not finish in " + timeout.toSeconds() + " s:\n" + p.tail(30));
    }
    return p;
  }

  /** The JVM flags of a process: memory from BashJavaUtils, env.java.opts.*, its log file. */
  private List<String> jvmArgs(List<String> memory, String name) {
    List<String> out = new ArrayList<>(memory);
    out.addAll(javaOptions(name.equals("jobmanager") ? "jobmanager" : "taskmanager"));
    out.add("-Dlog.file=" + work.resolve("log/" + name + ".log"));
    out.add("-Dlog4j.configurationFile=" + conf.resolve("log4j.properties").toUri());
    return out;
  }

  /** env.java.default-opts.all, env.java.opts.all, then those of the role, as Flink's scripts add them. */
  private List<String> javaOptions(String role) {
    List<String> out = new ArrayList<>();
    for (String key : List.of("env.java.default-opts.all", "env.java.opts.all", "env.java.opts." + role)) {
      out.addAll(split(unquote(config.get(key))));
    }
    return out;
  }

  /**
   * What Flink's scripts compute before starting a process: its JVM memory flags (first line)
   * and the memory settings it is then started with (second line).
   */
  private List<String> resourceParams(String command) {
    Path out = work.resolve("log/" + command.toLowerCase() + ".out");
    JvmProcess p = JvmProcess.start(command, List.of(), classpath(),
        "org.apache.flink.runtime.util.bash.BashJavaUtils", List.of(command, "--configDir", conf.toString()),
        Map.of(), out);
    if (p.waitFor(Duration.ofSeconds(60)) != 0) {
      throw new IllegalStateException("BashJavaUtils " + command + " failed:\n" + p.tail(30));
    }
    try {
      List<String> results = Files.readAllLines(out).stream()
          .filter(l -> l.startsWith("BASH_JAVA_UTILS_EXEC_RESULT:"))
          .map(l -> l.substring("BASH_JAVA_UTILS_EXEC_RESULT:".length())).toList();
      if (results.size() < 2) {
        throw new IllegalStateException("BashJavaUtils " + command + " printed " + results);
      }
      return results.subList(results.size() - 2, results.size());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
      throw new IllegalStateException("the JobManager exited:\n" + jobManager.tail(40)
          + "\n" + tail(work.resolve("log/jobmanager.log"), 40));
    }
  }

  /** The last lines of one of the cluster's log files. */
  public String tail(Path file, int lines) {
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

  private static List<String> split(String s) {
    return s == null || s.isBlank() ? List.of() : List.of(s.strip().split("\\s+"));
  }

  private static String unquote(String yaml) {
    if (yaml != null && yaml.length() >= 2 && yaml.startsWith("\"") && yaml.endsWith("\"")) {
      return yaml.substring(1, yaml.length() - 1).replace("\\\"", "\"").replace("\\\\", "\\");
    }
    return yaml;
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
    private Path lib = Path.of(System.getProperty("bonestream.flink.lib", "flink-lib/target/lib"));
    private Path confTemplate;
    private Path work;
    private int taskManagers = 2;
    private int slotsPerTaskManager = 2;
    private final List<String> javaOptions = new ArrayList<>();
    private final Map<String, String> settings = new LinkedHashMap<>();

    /** The lib folder (job/flink-lib/target/lib); default: the system property bonestream.flink.lib. */
    public Builder lib(Path v) { lib = v; return this; }
    /** The folder of the config.yaml template; default: job/flink-lib/conf beside the lib folder. */
    public Builder confTemplate(Path v) { confTemplate = v; return this; }
    /** Where the cluster keeps its conf, logs, checkpoints, savepoints, uploaded jars. */
    public Builder workDir(Path v) { work = v; return this; }
    public Builder taskManagers(int v) { taskManagers = v; return this; }
    public Builder slotsPerTaskManager(int v) { slotsPerTaskManager = v; return this; }
    /** JVM options added to env.java.opts.all. */
    public Builder javaOption(String v) { javaOptions.add(v); return this; }
    /** Any other Flink setting of config.yaml. */
    public Builder set(String key, String value) { settings.put(key, value); return this; }

    public FlinkCluster start() {
      if (!hasFlinkRuntime(lib)) {
        throw new IllegalStateException("no Flink lib folder at " + lib + " (mvn package builds job/flink-lib)");
      }
      if (confTemplate == null) {
        confTemplate = lib.getParent().getParent().resolve("conf");
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

    private static boolean hasFlinkRuntime(Path lib) {
      try (var files = Files.list(lib)) {
        return files.anyMatch(f -> f.getFileName().toString().startsWith("flink-runtime-"));
      } catch (IOException e) {
        return false;
      }
    }
  }
}
