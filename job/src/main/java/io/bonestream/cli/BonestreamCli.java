package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/**
 * The {@code bonestream} command line. Exit codes: 0 success, 1 runtime error (bad data, missing
 * files, ...), 2 usage error. Every user mistake prints one line, never a stack trace; set
 * {@code BONESTREAM_DEBUG=1} to see the stack trace of an unexpected error.
 */
@Command(
    name = "bonestream",
    mixinStandardHelpOptions = true,
    versionProvider = BonestreamCli.Version.class,
    description = "Continuous fine-tuning of Bone adapters for LLaMA-family models.",
    subcommands = {
      TrainCommand.class,
      GenerateCommand.class,
      ExportCommand.class,
      BenchCommand.class,
      CompareCommand.class,
      SelftestCommand.class,
      KernelsCommand.class,
      SizeCommand.class,
      DemoCommand.class,
      RunCommand.class,
      SubmitCommand.class,
      ServeCommand.class,
      ProduceCommand.class,
      EraseCommand.class,
      InspectCommand.class,
      TailSnapshotsCommand.class,
      BrokerCommand.class,
      KeygenCommand.class,
      CommandLine.HelpCommand.class
    })
public final class BonestreamCli implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    // JavaCPP logs through SLF4J (log4j2.xml), which drops its one warning that JavaCPP 1.5.13 (the
    // CUDA presets) and ND4J's OpenBLAS 1.5.7 differ in version: they work together (docs/gpu.md)
    if (System.getProperty("org.bytedeco.javacpp.logger") == null) {
      System.setProperty("org.bytedeco.javacpp.logger", "slf4j");
    }
    ConsoleLog.install(); // the console: WARN and up, without known-benign library messages
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /**
   * The commands' descriptions are prose broken wherever the source line ended; picocli prints each
   * piece as a line of its own, wrapped at 80 columns, which leaves ragged lines. Joined into
   * paragraphs (a new one where a sentence ends and the next piece starts with an option:
   * "--scenario drift: ..."; a word broken after its hyphen joined again), picocli wraps them word
   * by word.
   */
  private static void reflowDescriptions(CommandLine cli) {
    CommandLine.Model.UsageMessageSpec usage = cli.getCommandSpec().usageMessage();
    usage.description(paragraphs(usage.description()));
    for (CommandLine sub : cli.getSubcommands().values()) {
      reflowDescriptions(sub);
    }
  }

  static String[] paragraphs(String[] lines) {
    List<String> out = new ArrayList<>();
    StringBuilder p = new StringBuilder();
    for (String line : lines) {
      String l = line.strip();
      boolean sentenceEnded = p.length() > 0 && (p.charAt(p.length() - 1) == '.' || p.charAt(p.length() - 1) == ':');
      if ((l.isEmpty() || l.startsWith("--") && sentenceEnded) && p.length() > 0) {
        out.add(p.toString());
        p.setLength(0);
      }
      if (!l.isEmpty()) {
        boolean hyphenated = p.length() > 1 && p.charAt(p.length() - 1) == '-'
            && Character.isLetter(p.charAt(p.length() - 2));
        p.append(p.length() > 0 && !hyphenated ? " " : "").append(l);
      }
    }
    if (p.length() > 0) {
      out.add(p.toString());
    }
    return out.toArray(new String[0]);
  }

  /** Runs a command line with the given output streams and returns the exit code. */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    CommandLine cli = commandLine();
    cli.setOut(out);
    cli.setErr(err);
    return cli.execute(args);
  }

  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new BonestreamCli());
    reflowDescriptions(cli);
    cli.setOverwrittenOptionsAllowed(true); // a later --flag wins, as in most tools
    cli.setParameterExceptionHandler((ex, args) -> {
      CommandLine cmd = ex.getCommandLine();
      cmd.getErr().println("error: " + ex.getMessage().split("\n")[0] + " (see '"
          + cmd.getCommandSpec().qualifiedName() + " --help')");
      return 2;
    });
    cli.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
      if (ex instanceof BonestreamException) {
        cmd.getErr().println("error: " + ex.getMessage());
      } else {
        cmd.getErr().println("error: unexpected " + ex.getClass().getSimpleName() + ": "
            + ex.getMessage() + " (set BONESTREAM_DEBUG=1 for details)");
        if (System.getenv("BONESTREAM_DEBUG") != null) {
          ex.printStackTrace(cmd.getErr());
        }
      }
      return 1;
    });
    return cli;
  }

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "missing command");
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = BonestreamCli.class.getPackage().getImplementationVersion();
      return new String[] {"bonestream " + (v == null ? "development build" : v)};
    }
  }
}
