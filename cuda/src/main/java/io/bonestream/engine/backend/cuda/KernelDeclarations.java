package io.bonestream.engine.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The kernels a CUDA source declares, read from its text: every {@code extern "C" __global__}
 * function, written out or through a macro ({@code #define K extern "C" __global__ void}, and
 * macros like {@code #define HEADS(name, T) K name(const T* in, int n)} invoked as
 * {@code HEADS(from_heads_ff, F)}), with the kind of each parameter as a launch passes it. The
 * names are what the NVRTC check expects in every architecture's CUBIN; the parameters are what
 * {@code CudaDevice}'s launches are checked against (one 8-byte slot per argument, so an {@code int}
 * passed where the kernel takes a 64-bit value would leave half a slot stale).
 */
public final class KernelDeclarations {
  /** How a launch passes a parameter. */
  public enum Arg { PTR, I32, I64, F32 }

  /** One kernel: its name and its parameters' kinds, in order. */
  public record Kernel(String name, List<Arg> args) {
    public Kernel {
      args = List.copyOf(args);
    }
  }

  private static final String GLOBAL = "extern\\s+\"C\"\\s+__global__\\s+void";
  private static final Pattern ALIAS = Pattern.compile("(?m)^\\s*#define\\s+(\\w+)\\s+" + GLOBAL + "\\s*$");
  // an object-like macro naming a type or a number: #define F float
  private static final Pattern WORD_MACRO = Pattern.compile("(?m)^[ \\t]*#define[ \\t]+(\\w+)[ \\t]+(\\w+)[ \\t]*$");
  // a function-like macro: its name, parameters and body (continuation lines joined)
  private static final Pattern MACRO =
      Pattern.compile("(?m)^[ \\t]*#define[ \\t]+(\\w+)\\(([^)]*)\\)((?:[^\\n]*\\\\\\n)*[^\\n]*)");
  // a name in a macro body, maybe pasted from parameters and text: a ## b ## _c
  private static final String PASTED = "\\w+(?:\\s*##\\s*\\w+)*";

  private KernelDeclarations() {}

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
  public static List<String> names(String source) {
    return kernels(source).stream().map(Kernel::name).toList();
  }

  /**
   * The kernels of a source, in order of appearance, each once.
   *
   * @throws IllegalArgumentException where a kernel has a parameter of a type no launch passes
   */
  public static List<Kernel> kernels(String source) {
    String text = withoutComments(source);
    // spellings of extern "C" __global__ void: itself and its aliases (K)
    List<String> heads = new ArrayList<>(List.of(GLOBAL));
    Matcher a = ALIAS.matcher(text);
    while (a.find()) {
      heads.add(Pattern.quote(a.group(1)));
    }
    Map<String, String> words = new HashMap<>();
    Matcher w = WORD_MACRO.matcher(text);
    while (w.find()) {
      words.put(w.group(1), w.group(2));
    }
    String head = "(?:" + String.join("|", heads) + ")";
    Map<String, Kernel> kernels = new LinkedHashMap<>();
    Matcher direct = Pattern.compile("(?m)^[ \\t]*" + head + "\\s+(\\w+)\\s*\\(").matcher(text);
    while (direct.find()) {
      String name = direct.group(1);
      kernels.putIfAbsent(name, new Kernel(name, args(name, parameters(text, direct.end()), words)));
    }
    // macros whose body defines kernels named by their parameters, maybe pasted (attn_fwd_##t##_##HD)
    Matcher m = MACRO.matcher(text);
    while (m.find()) {
      List<String> params = split(m.group(2));
      String body = m.group(3).replace("\\\n", " ");
      Matcher kernel = Pattern.compile(head + "\\s+(" + PASTED + ")\\s*\\(").matcher(body);
      List<String[]> declared = new ArrayList<>(); // pasted name, parameter list
      while (kernel.find()) {
        declared.add(new String[] {kernel.group(1), parameters(body, kernel.end())});
      }
      if (declared.isEmpty()) {
        continue;
      }
      Matcher call = Pattern.compile("(?m)^[ \\t]*" + Pattern.quote(m.group(1)) + "\\s*\\(([^)]*)\\)").matcher(text);
      while (call.find()) {
        List<String> values = split(call.group(1));
        for (String[] k : declared) {
          String name = expand(k[0], params, values);
          if (name != null) {
            kernels.putIfAbsent(name, new Kernel(name, args(name, substitute(k[1], params, values), words)));
          }
        }
      }
    }
    return List.copyOf(kernels.values());
  }

  /** The text between the parenthesis opened just before {@code from} and the one closing it. */
  private static String parameters(String text, int from) {
    int depth = 1;
    for (int i = from; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '(') {
        depth++;
      } else if (c == ')' && --depth == 0) {
        return text.substring(from, i);
      }
    }
    throw new IllegalArgumentException("a kernel's parameter list is not closed: " + text.substring(from,
        Math.min(text.length(), from + 80)));
  }

  /** A macro body's text with the invocation's arguments for the parameters (whole words). */
  private static String substitute(String text, List<String> params, List<String> values) {
    String out = text;
    for (int i = 0; i < params.size() && i < values.size(); i++) {
      out = out.replaceAll("\\b" + Pattern.quote(params.get(i)) + "\\b", Matcher.quoteReplacement(values.get(i)));
    }
    return out;
  }

  /** The kinds of a parameter list's parameters: a pointer, else by the type (aliases resolved). */
  private static List<Arg> args(String kernel, String list, Map<String, String> words) {
    List<Arg> args = new ArrayList<>();
    if (list.isBlank()) {
      return args;
    }
    for (String p : list.split(",")) {
      String param = p.trim();
      if (param.contains("*")) {
        args.add(Arg.PTR);
        continue;
      }
      List<String> type = new ArrayList<>(List.of(param.split("\\s+")));
      type.remove(type.size() - 1); // the parameter's name
      type.remove("const");
      type.replaceAll(t -> words.getOrDefault(t, t));
      args.add(switch (String.join(" ", type)) {
        case "int", "unsigned", "unsigned int" -> Arg.I32;
        case "i64", "long long", "unsigned long long" -> Arg.I64;
        case "float" -> Arg.F32;
        default -> throw new IllegalArgumentException(
            "kernel " + kernel + ": parameter '" + param + "' is of a type no launch passes");
      });
    }
    return args;
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
