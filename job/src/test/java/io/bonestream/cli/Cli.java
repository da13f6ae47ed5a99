package io.bonestream.cli;

import io.bonestream.engine.util.Threads;
import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * Runs the command line in-process and keeps what it printed. A command that sets the compute
 * threads (train, bench, serve, ... with --threads or their automatic choice) would set them for
 * the whole test JVM, and results are bit-identical only for one thread count: the setting is put
 * back afterwards, so a later test compares with a process as it would start.
 */
public record Cli(int exitCode, String out, String err) {
  public static Cli run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int threads = Threads.setting();
    int code;
    try {
      code = BonestreamCli.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    } finally {
      Threads.restore(threads);
    }
    return new Cli(code, out.toString(), err.toString());
  }
}
