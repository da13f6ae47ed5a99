package io.bonestream.job.cluster;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * A child process (a Flink JVM, started by a script that execs it) with its output in a file.
 * {@link #kill()} is kill -9 of it and its descendants; every process still alive when this JVM
 * exits is killed the same way, so a failed or interrupted test leaves none behind.
 */
public final class JvmProcess implements AutoCloseable {
  private static final Set<JvmProcess> LIVE = ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(JvmProcess::kill), "kill-child-jvms"));
  }

  private final String name;
  private final Process process;
  private final Path output;

  private JvmProcess(String name, Process process, Path output) {
    this.name = name;
    this.process = process;
    this.output = output;
  }

  /** Starts {@code command} with extra environment variables, stdout and stderr appended to {@code output}. */
  public static JvmProcess start(String name, List<String> command, Map<String, String> env, Path output) {
    try {
      Files.createDirectories(output.getParent());
      ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(output.toFile()));
      pb.environment().putAll(env);
      JvmProcess p = new JvmProcess(name, pb.start(), output);
      LIVE.add(p);
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + name, e);
    }
  }

  public String name() {
    return name;
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  public Path output() {
    return output;
  }

  /** Waits for the process to end; returns its exit code, or -1 if it still runs after the timeout. */
  public int waitFor(Duration timeout) {
    try {
      if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        LIVE.remove(this);
        return process.exitValue();
      }
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  /** SIGKILL to the process and its descendants, then waits for them to be gone. */
  public void kill() {
    List<ProcessHandle> all = new ArrayList<>(process.descendants().toList());
    all.add(process.toHandle());
    all.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle h : all) {
      try {
        h.onExit().get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        throw new IllegalStateException("process " + h.pid() + " (" + name + ") survived kill -9", e);
      }
    }
    LIVE.remove(this);
  }

  /** The last lines of the output, for failure messages. */
  public String tail(int lines) {
    try {
      List<String> all = Files.readAllLines(output);
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException e) {
      return "(no output: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      kill();
    }
    LIVE.remove(this);
  }

  @Override
  public String toString() {
    return name + " (pid " + process.pid() + ")";
  }
}
