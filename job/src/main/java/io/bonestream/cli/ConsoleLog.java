package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.Appender;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.OutputStreamAppender;
import org.apache.logging.log4j.core.appender.RollingFileAppender;
import org.apache.logging.log4j.core.appender.rolling.DefaultRolloverStrategy;
import org.apache.logging.log4j.core.appender.rolling.SizeBasedTriggeringPolicy;
import org.apache.logging.log4j.core.config.AbstractConfiguration;
import org.apache.logging.log4j.core.config.Configuration;
import org.apache.logging.log4j.core.config.ConfigurationSource;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.filter.AbstractFilter;
import org.apache.logging.log4j.core.layout.PatternLayout;
import org.apache.logging.log4j.status.StatusLogger;
import org.jspecify.annotations.Nullable;

/**
 * Where the command line's log lines go. {@code main} routes them to the console (stderr): WARN and up,
 * without the library messages {@link BenignLibraryMessages} lists. {@code demo}, {@code run} and
 * {@code serve} then send the whole log (INFO and up, every logger) to a file they name in their first
 * line, the console keeping the same selection; {@code -} instead of a file puts the whole log on the
 * console (containers, whose log collectors read it there). A listed message with a hint prints the hint
 * on the console instead, once. In-process callers of {@link BonestreamCli#run} (the tests) keep their
 * own logging: nothing here happens unless {@code main} ran.
 */
final class ConsoleLog {
  /** The environment variable that names the log file where {@code --log-file} is not given. */
  static final String ENV = "BONESTREAM_LOG_FILE";

  static final String CONSOLE_PATTERN = "%d{HH:mm:ss} %-5level %c{1} - %msg%n";
  static final String FILE_PATTERN = "%d{yyyy-MM-dd HH:mm:ss.SSS} %-5level [%t] %c - %msg%n";

  private static volatile boolean installed;

  private ConsoleLog() {}

  /** {@code main}: the console only, for every command. */
  static void install() {
    installed = true;
    apply(null, false, System.err);
  }

  /**
   * demo, run, serve: the whole log to {@code option} (else {@value #ENV}, else {@code defaultDir}/
   * bonestream-{@code command}-TIMESTAMP.log, TIMESTAMP in local time), told in one line on {@code out};
   * {@code -}: the whole log on the console. Returns the file (null for {@code -}, or when {@code main}
   * did not install the console).
   */
  static @Nullable Path start(@Nullable String option, Path defaultDir, String command, PrintWriter out) {
    if (!installed) {
      return null;
    }
    String env = System.getenv(ENV); // set but empty: as if unset
    String chosen = option != null ? option : env == null || env.isBlank() ? null : env;
    Path file = file(chosen, defaultDir, command, LocalDateTime.now());
    if (file == null) {
      apply(null, true, System.err);
      out.println("log: on this console (everything, INFO and up)");
    } else {
      apply(file, false, System.err);
      out.println("log: " + file + " (everything; this console shows bonestream's lines and real problems)");
    }
    out.flush();
    return file;
  }

  /** The log file {@code chosen} names (null: the default one; "-": none), made ready to append to. */
  static @Nullable Path file(@Nullable String chosen, Path defaultDir, String command, LocalDateTime now) {
    if ("-".equals(chosen)) {
      return null;
    }
    if (chosen != null && chosen.isBlank()) {
      throw new BonestreamException("--log-file is empty: name a file, or '-' for the console");
    }
    Path file = (chosen != null ? Path.of(chosen)
        : defaultDir.resolve("bonestream-" + command + "-" + now.format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))
            + ".log")).toAbsolutePath();
    try {
      Files.createDirectories(file.getParent());
      Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND).close();
    } catch (IOException | RuntimeException e) {
      throw new BonestreamException("cannot write the log file " + file + " (" + e + "); --log-file FILE names "
          + "another, --log-file - keeps the whole log on the console");
    }
    return file;
  }

  /**
   * Routes the log: to {@code file} if not null (INFO and up), and to {@code console}: INFO and up with
   * {@code wholeLogOnConsole}, else WARN and up without the benign library messages.
   */
  static void apply(@Nullable Path file, boolean wholeLogOnConsole, PrintStream console) {
    LoggerContext context = (LoggerContext) LogManager.getContext(false);
    Configurator.reconfigure(new Routing(context, file, wholeLogOnConsole, console));
    // log4j's own notices (e.g. a library's message with more arguments than placeholders, common at INFO
    // in Flink) stay off the console; its errors (a log file that cannot be written) do not
    StatusLogger.getLogger().getFallbackListener().setLevel(Level.ERROR);
  }

  /** The configuration {@link #apply} installs. */
  private static final class Routing extends AbstractConfiguration {
    private final @Nullable Path file;
    private final boolean wholeLogOnConsole;
    private final PrintStream console;

    Routing(LoggerContext context, @Nullable Path file, boolean wholeLogOnConsole, PrintStream console) {
      super(context, ConfigurationSource.NULL_SOURCE);
      this.file = file;
      this.wholeLogOnConsole = wholeLogOnConsole;
      this.console = console;
      setName("bonestream");
      isShutdownHookEnabled = false; // logging must work while a stop takes the savepoint
    }

    @Override
    protected void doConfigure() {
      Appender toConsole = OutputStreamAppender.newBuilder()
          .setName("console")
          .setTarget(new Unclosed(console))
          .setLayout(PatternLayout.newBuilder().withConfiguration(this).withPattern(CONSOLE_PATTERN).build())
          .setFilter(new ConsoleFilter(console, wholeLogOnConsole))
          .setConfiguration(this)
          .build();
      toConsole.start();
      addAppender(toConsole);
      getRootLogger().setLevel(file != null || wholeLogOnConsole ? Level.INFO : Level.WARN);
      getRootLogger().addAppender(toConsole, wholeLogOnConsole ? Level.INFO : Level.WARN, null);
      if (file != null) {
        String name = file.getFileName().toString();
        String stem = name.endsWith(".log") ? name.substring(0, name.length() - 4) : name;
        Appender toFile = RollingFileAppender.newBuilder()
            .setName("file")
            .withFileName(file.toString())
            .withFilePattern(file.resolveSibling(stem + "-%i.log").toString())
            .withAppend(true)
            .withPolicy(SizeBasedTriggeringPolicy.createPolicy("100 MB"))
            .withStrategy(DefaultRolloverStrategy.newBuilder().withMax("5").withConfig(this).build())
            .setLayout(PatternLayout.newBuilder().withConfiguration(this).withPattern(FILE_PATTERN).build())
            .setConfiguration(this)
            .build();
        toFile.start();
        addAppender(toFile);
        getRootLogger().addAppender(toFile, Level.INFO, null);
      }
    }
  }

  /**
   * Keeps benign library messages off the console (unless the whole log is there) and prints the hint of
   * one that has a hint, once per configuration.
   */
  static final class ConsoleFilter extends AbstractFilter {
    private final PrintStream console;
    private final boolean showBenign;
    private final Set<String> hinted = ConcurrentHashMap.newKeySet();

    ConsoleFilter(PrintStream console, boolean showBenign) {
      this.console = console;
      this.showBenign = showBenign;
    }

    @Override
    public Result filter(LogEvent event) {
      BenignLibraryMessages.Entry benign = BenignLibraryMessages.match(event.getLoggerName(),
          event.getLevel().name(), event.getMessage().getFormattedMessage());
      if (benign == null) {
        return Result.NEUTRAL;
      }
      if (benign.hint() != null && hinted.add(benign.hint())) {
        console.println(LocalTime.now().format(DateTimeFormatter.ofPattern("HH:mm:ss")) + " note: " + benign.hint());
        console.flush();
      }
      return showBenign ? Result.NEUTRAL : Result.DENY;
    }
  }

  /** The console stream, which a stopped configuration must not close. */
  private static final class Unclosed extends FilterOutputStream {
    Unclosed(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
      out.flush();
    }
  }
}
