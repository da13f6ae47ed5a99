package io.bonestream.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Option;

/** {@code --log-file} of demo, run and serve ({@link ConsoleLog}). */
final class LogOptions {
  @Option(names = "--log-file", paramLabel = "FILE",
      description = "the whole log (INFO and up: Flink, Kafka, bonestream), named in the first line; '-': all of "
          + "it on the console, e.g. in a container (default: $" + ConsoleLog.ENV + " if not empty, else "
          + "logs/bonestream-${COMMAND-NAME}-<yyyyMMdd-HHmmss>.log; for demo with --data-dir under DIR). "
          + "The console shows bonestream's lines and the libraries' real problems")
  @Nullable String logFile;

  /** Starts the log of {@code command}, its default file under {@code defaultDir}; returns the file or null. */
  @Nullable Path start(String command, Path defaultDir, PrintWriter out) {
    return ConsoleLog.start(logFile, defaultDir, command, out);
  }
}
