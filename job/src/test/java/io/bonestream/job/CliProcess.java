package io.bonestream.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code bonestream} command line in a process of its own (the test JVM's Java and class path),
 * its output in a file, so that a test can stop it the way users do: SIGTERM, or kill -9.
 * {@link #close()} kills it and its children, whatever happened; use it in try-with-resources. The
 * output is the whole log ({@code BONESTREAM_LOG_FILE=-}) unless {@code env} says otherwise.
 */
final class CliProcess implements AutoCloseable {
  private final Process process;
  private final Path log;

  private CliProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  static CliProcess start(Path log, String... args) throws IOException {
    return start(log, java.util.Map.of(), args);
  }

  /** As {@link #start(Path, String...)}, with these environment variables added to the test JVM's. */
  static CliProcess start(Path log, java.util.Map<String, String> env, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.add("-Xmx1g");
    cmd.add("-Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.bonestream.schemas");
    String cache = System.getProperty("org.bytedeco.javacpp.cachedir");
    if (cache != null) {
      cmd.add("-Dorg.bytedeco.javacpp.cachedir=" + cache);
    }
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add("io.bonestream.cli.BonestreamCli");
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    // the developer's own AWS settings must not reach serve (it would sign with them, or talk to AWS)
    pb.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
    // demo, run and serve put their whole log here, with the console's lines: no log file in the module's
    // folder, and a test's look at the output (e.g. for a secret) sees every line (an empty value: a file)
    pb.environment().put("BONESTREAM_LOG_FILE", "-");
    pb.environment().putAll(env);
    Process p = pb.start();
    return new CliProcess(p, log);
  }

  String output() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /** What Ctrl-C's sibling, SIGTERM, does: asks the process to stop. */
  void terminate() {
    process.destroy();
  }

  /** kill -9. */
  void kill() {
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
  }

  /** The exit code, or -1 if it did not end in time. */
  int waitFor(long seconds) throws InterruptedException {
    return process.waitFor(seconds, TimeUnit.SECONDS) ? process.exitValue() : -1;
  }

  long pid() {
    return process.pid();
  }

  boolean alive() {
    return process.isAlive();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      kill();
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }
}
