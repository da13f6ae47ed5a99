package io.bonestream.core.util;

import io.bonestream.core.BonestreamException;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Parses durations written as {@code 500ms}, {@code 30s}, {@code 5m}, {@code 2h} (or plain seconds). */
public final class Durations {
  private static final Pattern FORMAT = Pattern.compile("(\\d+)\\s*(ms|s|m|h)?");

  private Durations() {}

  public static Duration parse(String text, String what) {
    Matcher m = FORMAT.matcher(text == null ? "" : text.trim());
    if (!m.matches()) {
      throw new BonestreamException(what + ": '" + text + "' is not a duration (e.g. 500ms, 30s, 5m, 2h)");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "s" : m.group(2);
    return switch (unit) {
      case "ms" -> Duration.ofMillis(n);
      case "s" -> Duration.ofSeconds(n);
      case "m" -> Duration.ofMinutes(n);
      default -> Duration.ofHours(n);
    };
  }

  /** Sizes written as {@code 512}, {@code 512KiB}, {@code 4MiB} (also KB/MB, meaning the same). */
  public static long parseBytes(String text, String what) {
    Matcher m = Pattern.compile("(\\d+)\\s*(B|KiB|KB|MiB|MB|GiB|GB)?").matcher(text == null ? "" : text.trim());
    if (!m.matches()) {
      throw new BonestreamException(what + ": '" + text + "' is not a size (e.g. 512KiB, 4MiB)");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2) == null ? "B" : m.group(2);
    return switch (unit) {
      case "KiB", "KB" -> n * 1024;
      case "MiB", "MB" -> n * 1024 * 1024;
      case "GiB", "GB" -> n * 1024 * 1024 * 1024;
      default -> n;
    };
  }
}
