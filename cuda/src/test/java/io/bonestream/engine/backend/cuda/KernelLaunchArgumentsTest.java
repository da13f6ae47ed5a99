package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.backend.cuda.KernelDeclarations.Arg;
import io.bonestream.engine.backend.cuda.KernelDeclarations.Kernel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Every kernel launch in {@code CudaDevice} passes what its kernel in kernels.cu takes: as many
 * arguments, each of the kind the parameter is (pointer, int, 64-bit int, float). cuLaunchKernel
 * checks none of this; on a GPU a missing argument or an int for a 64-bit parameter reads a stale
 * slot. Read from the sources, so it runs without a GPU (and not from the GPU check bundle, which
 * carries no sources). A launch's kernel name is built at run time ({@code "attn_fwd_" + suffix(t) +
 * "_" + width}); a launch site stands for every kernel whose name is one of its string literals
 * followed by what the device appends: a dtype suffix ({@code f}, {@code bf}), a width, or both.
 */
@Timeout(30)
class KernelLaunchArgumentsTest {
  private static final Path DEVICE = Path.of("src/main/java/io/bonestream/engine/backend/cuda/CudaDevice.java");
  // launch, launch2, launchGrid, launchGridU, launchHeads, called (not declared: "void launch...")
  private static final Pattern CALL = Pattern.compile("(?<!void )\\blaunch(?:2|Grid|GridU|Heads)?\\(");
  private static final Pattern PASSED = Pattern.compile("\\.(ptr|i32|i64|f32)\\(");
  // what the device appends to a literal: suffix(dtype) once or twice, maybe "_" + width; or a width
  private static final String APPENDED = "(?:[fb]{1,2}(?:_\\d+)?|\\d+)?";

  record Launch(int line, List<String> literals, List<Arg> args) {}

  @Test
  void everyLaunchPassesWhatItsKernelTakes() throws Exception {
    List<Kernel> kernels = KernelDeclarations.kernels(KernelDeclarations.kernelsSource());
    List<Launch> launches = launches(Files.readString(DEVICE));
    assertTrue(launches.size() >= 25, launches.size() + " launches found");
    Set<String> launched = new LinkedHashSet<>();
    List<String> wrong = new ArrayList<>();
    for (Launch l : launches) {
      List<Kernel> matched = kernels.stream().filter(k -> names(l, k.name())).toList();
      if (matched.isEmpty()) {
        wrong.add("line " + l.line() + ": no kernel in kernels.cu is named like " + l.literals());
      }
      for (Kernel k : matched) {
        launched.add(k.name());
      }
      List<Kernel> differ = matched.stream().filter(k -> !k.args().equals(l.args())).toList();
      if (!differ.isEmpty()) {
        wrong.add("line " + l.line() + ": " + differ.stream().map(Kernel::name).toList() + " take "
            + differ.get(0).args() + ", the launch passes " + l.args());
      }
    }
    assertTrue(wrong.isEmpty(), String.join("\n", wrong));
    // and no kernel is compiled that nothing launches (a launch renamed away from it, say)
    List<String> unlaunched = kernels.stream().map(Kernel::name).filter(n -> !launched.contains(n)).toList();
    assertTrue(unlaunched.isEmpty(), "kernels no launch names: " + unlaunched);
    System.out.println(launches.size() + " launch sites cover the " + kernels.size() + " kernels of kernels.cu");
  }

  @Test
  void aLaunchSiteIsReadWithItsNameAndArguments() {
    String source = String.join("\n",
        "  private void launch(String name, long grid, int block, Consumer<Args> args) {",
        "    launch2(name, grid, 1, block, args);",
        "  }",
        "  void f() {",
        "    String t = dx == null ? \"f\" : suffix(dx.type());",
        "    launch(\"norm_\" + t, rows, 1024,",
        "        a -> a.ptr(x).f32(eps).i32(accumulate ? 1 : 0).i64(x.size()));",
        "    launchGrid((two ? \"tc2_\" : \"tc_\") + headDim, n, a -> a.ptr(q).i32((int) n));",
        "  }");
    List<Launch> launches = launches(source);
    assertEquals(2, launches.size(), launches.toString());
    assertEquals(List.of("norm_", "f"), launches.get(0).literals());
    assertEquals(List.of(Arg.PTR, Arg.F32, Arg.I32, Arg.I64), launches.get(0).args());
    assertEquals(6, launches.get(0).line());
    assertEquals(List.of("tc2_", "tc_"), launches.get(1).literals());
    Launch norm = launches.get(0);
    assertTrue(names(norm, "norm_f") && names(norm, "norm_b") && names(norm, "norm_bf_64"));
    assertFalse(names(norm, "norm_reduce"), "a name the device does not append");
    assertFalse(names(launches.get(1), "tc_bwd_64"));
  }

  /** Whether a launch site stands for the kernel of this name. */
  private static boolean names(Launch l, String kernel) {
    return l.literals().stream().anyMatch(p -> kernel.matches(Pattern.quote(p) + APPENDED));
  }

  /** The launch sites of a Java source: the string literals of the name, and the arguments' kinds. */
  static List<Launch> launches(String source) {
    List<Launch> out = new ArrayList<>();
    Matcher call = CALL.matcher(source);
    while (call.find()) {
      List<String> parts = topLevelParts(source, call.end());
      String last = parts.get(parts.size() - 1);
      if (!last.contains("->")) {
        continue; // a helper passing its own lambda on (launch2(name, ..., args))
      }
      List<Arg> args = new ArrayList<>();
      Matcher p = PASSED.matcher(last);
      while (p.find()) {
        args.add(Arg.valueOf(p.group(1).toUpperCase(java.util.Locale.ROOT)));
      }
      int line = (int) source.substring(0, call.start()).chars().filter(c -> c == '\n').count() + 1;
      out.add(new Launch(line, literals(resolve(source, call.start(), parts.get(0))), args));
    }
    return out;
  }

  /** A name expression with each local String it uses replaced by that local's initializer. */
  private static String resolve(String source, int before, String expression) {
    String text = expression;
    Matcher id = Pattern.compile("(?<![\\w.\"])([a-z]\\w*)\\b(?!\\s*\\()").matcher(expression);
    while (id.find()) {
      Matcher decl = Pattern.compile("String\\s+" + id.group(1) + "\\s*=\\s*([^;]+);").matcher(source);
      String init = null;
      while (decl.find() && decl.start() < before) {
        init = decl.group(1);
      }
      if (init != null) {
        text = text.replaceAll("(?<![\\w.\"])" + id.group(1) + "\\b(?!\\s*\\()", Matcher.quoteReplacement("(" + init + ")"));
      }
    }
    return text;
  }

  private static List<String> literals(String expression) {
    List<String> out = new ArrayList<>();
    Matcher m = Pattern.compile("\"([^\"]*)\"").matcher(expression);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  /** The comma-separated arguments of the call whose parenthesis opens just before {@code from}. */
  private static List<String> topLevelParts(String s, int from) {
    List<String> parts = new ArrayList<>();
    int depth = 0;
    int start = from;
    boolean inString = false;
    for (int i = from; i < s.length(); i++) {
      char c = s.charAt(i);
      if (inString) {
        inString = c != '"' || s.charAt(i - 1) == '\\';
      } else if (c == '"') {
        inString = true;
      } else if (c == '(') {
        depth++;
      } else if (c == ')' && depth-- == 0) {
        parts.add(s.substring(start, i).trim());
        return parts;
      } else if (c == ',' && depth == 0) {
        parts.add(s.substring(start, i).trim());
        start = i + 1;
      }
    }
    throw new IllegalArgumentException("a launch call is not closed after offset " + from);
  }
}
