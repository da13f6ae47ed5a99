package io.bonestream.engine.backend.cuda;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code bonestream kernels --compile-only}: compiles kernels.cu with NVRTC for each architecture
 * (no GPU needed) and requires every kernel of the source in each CUBIN. Ends with PASS or FAIL.
 */
public final class ArchCheck {
  private ArchCheck() {}

  /** One architecture's outcome: the kernels the CUBIN lacks, or the compilation's error. */
  public record Outcome(String arch, int kernels, int cubinBytes, List<String> missing, String error, double seconds) {
    public boolean ok() {
      return error == null && missing.isEmpty();
    }
  }

  /** What the CUBIN of a compilation holds of the expected kernels. */
  public static Outcome judge(NvrtcCompiler.Result r, List<String> expected) {
    if (!r.ok()) {
      return new Outcome(r.arch(), 0, 0, List.of(), r.error() + ": " + firstLines(r.log(), 20), r.seconds());
    }
    Set<String> found = ElfFunctions.of(r.cubin());
    List<String> missing = new ArrayList<>();
    for (String k : expected) {
      if (!found.contains(k)) {
        missing.add(k);
      }
    }
    return new Outcome(r.arch(), found.size(), r.cubin().length, missing, null, r.seconds());
  }

  /** Compiles the device's kernels.cu for every architecture; true when all pass. */
  public static boolean run(List<String> archs, PrintStream out) {
    NvrtcCompiler.load();
    String source = KernelDeclarations.kernelsSource();
    List<String> expected = KernelDeclarations.names(source);
    out.println("NVRTC " + NvrtcCompiler.version() + ", supports " + String.join(" ", NvrtcCompiler.supportedArchs()));
    out.println("kernels.cu defines " + expected.size() + " kernels");
    int failures = 0;
    for (String arch : archs) {
      Outcome o = judge(NvrtcCompiler.compile(source, "kernels.cu", arch), expected);
      if (o.ok()) {
        out.printf(Locale.ROOT, "  ok    %s: all %d kernels in a CUBIN of %d bytes (%d functions), %.1f s%n", arch,
            expected.size(), o.cubinBytes(), o.kernels(), o.seconds());
      } else {
        failures++;
        out.printf(Locale.ROOT, "  FAIL  %s: %s%n", arch, o.error() != null ? o.error()
            : o.missing().size() + " kernels missing from the CUBIN: " + String.join(", ", o.missing()));
      }
      out.flush();
    }
    out.println(failures == 0 ? "PASS" : "FAIL (" + failures + ")");
    return failures == 0;
  }

  private static String firstLines(String log, int n) {
    String[] lines = log.split("\n");
    List<String> kept = new ArrayList<>();
    for (int i = 0; i < Math.min(n, lines.length); i++) {
      kept.add(lines[i]);
    }
    return String.join(" | ", kept) + (lines.length > n ? " | ..." : "");
  }
}
