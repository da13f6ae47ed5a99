package io.bonestream.engine.backend.cuda;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * The architectures of {@code bonestream kernels --compile-only --arch LIST}: {@code sm_XY} names
 * (a suffix {@code a} or {@code f} allowed, as NVRTC takes them) and {@code native}, the GPU's own,
 * which only this word needs a GPU for.
 */
public final class ArchList {
  /** Ampere (A100, A10G, ...), Ampere (RTX A-series, A40), Ada (L4, L40S), Hopper. */
  public static final String DEFAULT = "sm_80,sm_86,sm_89,sm_90";
  private static final Pattern ARCH = Pattern.compile("sm_\\d{2,3}[af]?");

  private ArchList() {}

  /**
   * The list, each once, in order; {@code nativeArch} is asked only when {@code native} is in it
   * and may answer null (no GPU), which is a usage error then.
   */
  public static List<String> parse(String list, Supplier<String> nativeArch) {
    Set<String> out = new LinkedHashSet<>();
    for (String raw : list.split(",")) {
      String a = raw.trim();
      if (a.isEmpty()) {
        continue;
      }
      if (a.equals("native")) {
        String mine = nativeArch.get();
        if (mine == null) {
          throw new GpuOptions.UsageException("--arch native: no GPU found to take the architecture of");
        }
        out.add(mine);
      } else if (ARCH.matcher(a).matches()) {
        out.add(a);
      } else {
        throw new GpuOptions.UsageException("--arch: '" + a + "' is not an architecture like sm_86 (or native)");
      }
    }
    if (out.isEmpty()) {
      throw new GpuOptions.UsageException("--arch: no architecture given");
    }
    return new ArrayList<>(out);
  }
}
