package io.bonestream.engine.tokenizer;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import io.bonestream.core.BonestreamException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.time.LocalDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * What transformers adds to Jinja for chat templates, and the Jinja built-ins whose Jinjava
 * versions differ from Python's, as Jinjava filters, functions and tags: {@code trim} (Python's
 * {@code str.strip}), {@code tojson} (transformers' {@code json.dumps} with
 * {@code ensure_ascii=False}), {@code strftime_now} and the {@code generation} tag (which renders
 * its body; transformers uses it to mark assistant tokens).
 */
public final class JinjaCompat {
  private JinjaCompat() {}

  /** Python's {@code str.isspace()} (all such characters are in the BMP). */
  static boolean isPythonSpace(char c) {
    return (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0
        || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f
        || c == 0x205f || c == 0x3000;
  }

  /** Jinja's {@code trim}: Python's {@code str.strip()}, or {@code strip(chars)} with an argument. */
  static final class Trim implements Filter {
    @Override
    public String getName() {
      return "trim";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      String s = var == null ? "" : var.toString();
      String chars = args.length > 0 && args[0] != null ? args[0] : null;
      int from = 0;
      int to = s.length();
      while (from < to && strips(s.charAt(from), chars)) {
        from++;
      }
      while (to > from && strips(s.charAt(to - 1), chars)) {
        to--;
      }
      return s.substring(from, to);
    }

    private static boolean strips(char c, String chars) {
      return chars != null ? chars.indexOf(c) >= 0 : isPythonSpace(c);
    }
  }

  /**
   * transformers' {@code tojson}: {@code json.dumps(x, ensure_ascii=False, indent=None,
   * separators=None, sort_keys=False)}, the same arguments by position or name.
   */
  static final class ToJson implements Filter {
    @Override
    public String getName() {
      return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
      return filter(var, interpreter, (Object[]) args, Map.of());
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
      Object ensureAscii = arg(args, kwargs, 0, "ensure_ascii");
      Object indent = arg(args, kwargs, 1, "indent");
      Object separators = arg(args, kwargs, 2, "separators");
      Object sortKeys = arg(args, kwargs, 3, "sort_keys");
      String item = indent == null ? ", " : ",";
      String key = ": ";
      if (separators instanceof List<?> l && l.size() == 2) {
        item = String.valueOf(l.get(0));
        key = String.valueOf(l.get(1));
      }
      String pad = null;
      if (indent instanceof Number n) {
        pad = " ".repeat(Math.max(0, n.intValue()));
      } else if (indent != null) {
        pad = indent.toString();
      }
      StringBuilder sb = new StringBuilder();
      new Writer(truthy(ensureAscii), pad, item, key, truthy(sortKeys), sb).value(var, 0);
      return sb.toString();
    }

    private static Object arg(Object[] args, Map<String, Object> kwargs, int i, String name) {
      if (kwargs != null && kwargs.containsKey(name)) {
        return kwargs.get(name);
      }
      return args != null && args.length > i ? args[i] : null;
    }

    private static boolean truthy(Object o) {
      return o instanceof Boolean b ? b : o != null && !"false".equalsIgnoreCase(o.toString()) && !"".equals(o.toString());
    }
  }

  private record Writer(boolean ascii, String pad, String item, String key, boolean sortKeys, StringBuilder sb) {
    void value(Object v, int level) {
      if (v == null) {
        sb.append("null");
      } else if (v instanceof Boolean b) {
        sb.append(b ? "true" : "false");
      } else if (v instanceof Float || v instanceof Double || v instanceof BigDecimal) {
        sb.append(pythonFloat(((Number) v).doubleValue()));
      } else if (v instanceof Number n) {
        sb.append(n.longValue());
      } else if (v instanceof Map<?, ?> m) {
        List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
        if (sortKeys) {
          entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
        }
        container('{', '}', entries.iterator(), level, e -> {
          string(String.valueOf(e.getKey()));
          sb.append(key);
          value(e.getValue(), level + 1);
        });
      } else if (v instanceof Iterable<?> it) {
        container('[', ']', it.iterator(), level, e -> value(e, level + 1));
      } else if (v instanceof Object[] a) {
        container('[', ']', List.of(a).iterator(), level, e -> value(e, level + 1));
      } else {
        string(v.toString());
      }
    }

    private <T> void container(char open, char close, Iterator<T> it, int level,
        java.util.function.Consumer<T> each) {
      sb.append(open);
      if (!it.hasNext()) {
        sb.append(close);
        return;
      }
      boolean first = true;
      while (it.hasNext()) {
        if (!first) {
          sb.append(item);
        }
        if (pad != null) {
          sb.append('\n').append(pad.repeat(level + 1));
        }
        each.accept(it.next());
        first = false;
      }
      if (pad != null) {
        sb.append('\n').append(pad.repeat(level));
      }
      sb.append(close);
    }

    private void string(String s) {
      sb.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> sb.append("\\\"");
          case '\\' -> sb.append("\\\\");
          case '\n' -> sb.append("\\n");
          case '\r' -> sb.append("\\r");
          case '\t' -> sb.append("\\t");
          case '\b' -> sb.append("\\b");
          case '\f' -> sb.append("\\f");
          default -> {
            if (c < 0x20 || (ascii && c > 0x7e)) {
              sb.append(String.format("\\u%04x", (int) c));
            } else {
              sb.append(c);
            }
          }
        }
      }
      sb.append('"');
    }
  }

  /** Python's {@code repr(float)}: fixed notation from 1e-4 up to 1e16, else e.g. {@code 1e+16}. */
  static String pythonFloat(double d) {
    if (Double.isNaN(d)) {
      return "NaN";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "Infinity" : "-Infinity";
    }
    if (d == 0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    BigDecimal b = shortest(d);
    int exp = b.precision() - b.scale() - 1; // the decimal exponent of the first digit
    if (exp >= -4 && exp < 16) {
      String s = b.toPlainString();
      return s.contains(".") ? s : s + ".0";
    }
    String digits = b.unscaledValue().abs().toString();
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return (d < 0 ? "-" : "") + mantissa + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
  }

  /** The decimal with the fewest digits that reads back as d (Python's repr; Java 17's toString is not always that). */
  private static BigDecimal shortest(double d) {
    BigDecimal exact = new BigDecimal(d);
    for (int p = 1; p < 17; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (r.doubleValue() == d) {
        return r.stripTrailingZeros();
      }
    }
    return exact.round(new MathContext(17, RoundingMode.HALF_EVEN)).stripTrailingZeros();
  }

  /** transformers' {@code strftime_now(format)}: the local time, in English, for the usual directives. */
  public static String strftimeNow(String format) {
    LocalDateTime t = LocalDateTime.now();
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        sb.append(c);
        continue;
      }
      char d = format.charAt(++i);
      switch (d) {
        case 'Y' -> sb.append(t.getYear());
        case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
        case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
        case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
        case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
        case 'H' -> sb.append(String.format("%02d", t.getHour()));
        case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
        case 'M' -> sb.append(String.format("%02d", t.getMinute()));
        case 'S' -> sb.append(String.format("%02d", t.getSecond()));
        case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
        case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
        case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
        case '%' -> sb.append('%');
        default -> throw new BonestreamException("chat template: strftime_now does not know %" + d);
      }
    }
    return sb.toString();
  }

  /** {@code {% generation %}...{% endgeneration %}}: the body, as rendered. */
  static final class Generation implements Tag {
    private static final long serialVersionUID = 1L;

    @Override
    public String getName() {
      return "generation";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
      StringBuilder sb = new StringBuilder();
      for (Node child : tagNode.getChildren()) {
        sb.append(Objects.toString(child.render(interpreter).getValue(), ""));
      }
      return sb.toString();
    }
  }
}
