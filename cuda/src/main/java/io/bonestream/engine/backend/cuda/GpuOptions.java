package io.bonestream.engine.backend.cuda;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The options of a {@link GpuMain} command: {@code --name value} pairs, or {@code --name} alone
 * (then "true") when the next argument is another option or there is none. An option the command
 * does not know is a usage error, so that a misspelled or newer option is never ignored silently.
 */
final class GpuOptions {
  private GpuOptions() {}

  /** A usage error: exit code 2. */
  static final class UsageException extends RuntimeException {
    UsageException(String message) {
      super(message);
    }
  }

  /** The options of {@code args[from..]}, each checked against {@code known}. */
  static Map<String, String> parse(String[] args, int from, Set<String> known) {
    Map<String, String> o = new LinkedHashMap<>();
    for (int i = from; i < args.length; i++) {
      if (!args[i].startsWith("--") || args[i].length() == 2) {
        throw new UsageException("expected --option [value], got '" + args[i] + "'");
      }
      String name = args[i].substring(2);
      if (!known.contains(name)) {
        throw new UsageException("unknown option --" + name + " (known: --" + String.join(", --", new java.util.TreeSet<>(known)) + ")");
      }
      boolean flag = i + 1 >= args.length || args[i + 1].startsWith("--");
      o.put(name, flag ? "true" : args[++i]);
    }
    return o;
  }
}
