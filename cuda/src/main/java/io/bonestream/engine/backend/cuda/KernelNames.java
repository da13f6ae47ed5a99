package io.bonestream.engine.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernels a CUDA source defines, read from its text: every {@code extern "C" __global__}
 * function, written out or through a macro ({@code #define K extern "C" __global__ void}, and
 * macros like {@code #define HEADS(name, ...) K name(...)} invoked as {@code HEADS(from_heads_ff, ...)}).
 * What the NVRTC check expects to find in every architecture's CUBIN.
 */
public final class KernelNames {
  private static final String GLOBAL = "extern\\s+\"C\"\\s+__global__\\s+void";
  private static final Pattern ALIAS = Pattern.compile("(?m)^\\s*#define\\s+(\\w+)\\s+" + GLOBAL + "\\s*$");
  // a function-like macro: its name, parameters and body (continuation lines joined)
  private static final Pattern MACRO =
      Pattern.compile("(?m)^[ \\t]*#define[ \\t]+(\\w+)\\(([^)]*)\\)((?:[^\\n]*\\\\\\n)*[^\\n]*)");
  // a name in a macro body, maybe pasted from parameters and text: a ## b ## _c
  private static final String PASTED = "\\w+(?:\\s*##\\s*\\w+)*";

  private KernelNames() {}

  /** kernels.cu, the CUDA device's kernels, from the classpath. */
  public static String kernelsSource() {
    try (InputStream in = CudaDevice.class.getResourceAsStream("kernels.cu")) {
      if (in == null) {
        throw new IllegalStateException("kernels.cu is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("kernels.cu cannot be read", e);
    }
  }

  /** The kernel names of a source, in order of appearance, each once. */
  public static List<String> of(String source) {
    String text = withoutComments(source);
    // spellings of extern "C" __global__ void: itself and its aliases (K)
    List<String> heads = new ArrayList<>(List.of(GLOBAL));
    Matcher a = ALIAS.matcher(text);
    while (a.find()) {
      heads.add(Pattern.quote(a.group(1)));
    }
    String head = "(?:" + String.join("|", heads) + ")";
    Set<String> names = new LinkedHashSet<>();
    Matcher direct = Pattern.compile("(?m)^[ \\t]*" + head + "\\s+(\\w+)\\s*\\(").matcher(text);
    while (direct.find()) {
      names.add(direct.group(1));
    }
    // macros whose body defines kernels named by their parameters, maybe pasted (attn_fwd_##t##_##HD)
    Matcher m = MACRO.matcher(text);
    while (m.find()) {
      List<String> params = split(m.group(2));
      String body = m.group(3).replace("\\\n", " ");
      Matcher kernel = Pattern.compile(head + "\\s+(" + PASTED + ")\\s*\\(").matcher(body);
      List<String> kernels = new ArrayList<>();
      while (kernel.find()) {
        kernels.add(kernel.group(1));
      }
      if (kernels.isEmpty()) {
        continue;
      }
      Matcher call = Pattern.compile("(?m)^[ \\t]*" + Pattern.quote(m.group(1)) + "\\s*\\(([^)]*)\\)").matcher(text);
      while (call.find()) {
        List<String> args = split(call.group(1));
        for (String k : kernels) {
          String name = expand(k, params, args);
          if (name != null) {
            names.add(name);
          }
        }
      }
    }
    return List.copyOf(names);
  }

  /**
   * A pasted name with the invocation's arguments for the parameters, or null where a part is a
   * parameter without a plain-word argument (the name is not known from the text).
   */
  private static String expand(String pasted, List<String> params, List<String> args) {
    StringBuilder name = new StringBuilder();
    boolean fromParam = false;
    for (String part : pasted.split("\\s*##\\s*")) {
      int index = params.indexOf(part);
      if (index < 0) {
        name.append(part);
      } else if (index < args.size() && args.get(index).matches("\\w+")) {
        name.append(args.get(index));
        fromParam = true;
      } else {
        return null;
      }
    }
    // a name that takes nothing from the arguments is the same at every invocation: a macro that
    // defines one fixed kernel would define it twice, which NVRTC refuses; it is not a kernel family
    return fromParam ? name.toString() : null;
  }

  private static List<String> split(String list) {
    List<String> out = new ArrayList<>();
    for (String s : list.split(",")) {
      out.add(s.trim());
    }
    return out;
  }

  /** The source with its comments blanked out (line breaks kept). */
  static String withoutComments(String s) {
    StringBuilder b = new StringBuilder(s.length());
    int i = 0;
    while (i < s.length()) {
      if (s.startsWith("//", i)) {
        while (i < s.length() && s.charAt(i) != '\n') {
          i++;
        }
      } else if (s.startsWith("/*", i)) {
        int end = s.indexOf("*/", i + 2);
        end = end < 0 ? s.length() : end + 2;
        for (int j = i; j < end; j++) {
          if (s.charAt(j) == '\n') {
            b.append('\n');
          }
        }
        i = end;
      } else if (s.charAt(i) == '"') { // a string: copied as it is ("//" inside one is no comment)
        int j = i + 1;
        while (j < s.length() && s.charAt(j) != '"' && s.charAt(j) != '\n') {
          j += s.charAt(j) == '\\' ? 2 : 1;
        }
        j = Math.min(j + 1, s.length());
        b.append(s, i, j);
        i = j;
      } else {
        b.append(s.charAt(i++));
      }
    }
    return b.toString();
  }
}
