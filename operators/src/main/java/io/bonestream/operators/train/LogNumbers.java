package io.bonestream.operators.train;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Locale;

/** Numbers as the trainer's log lines show them: read by people, not parsed. */
final class LogNumbers {
  private LogNumbers() {}

  /** A loss: four decimals tell two snapshots apart; a double's seventeen digits do not help. */
  static String loss(double value) {
    return String.format(Locale.ROOT, "%.4f", value);
  }

  /** A relative tolerance (0.1) as a percentage (10%), to three significant digits. */
  static String percent(double tolerance) {
    if (!Double.isFinite(tolerance)) {
      return tolerance + "";
    }
    return BigDecimal.valueOf(100 * tolerance).round(new MathContext(3)).stripTrailingZeros().toPlainString() + "%";
  }
}
