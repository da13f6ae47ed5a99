package io.bonestream.engine.backend.cuda;

import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Turns a failure to load the CUDA bindings into one line naming what is missing. */
final class CudaDiagnosis {
  private static final Pattern MISSING = Pattern.compile("(lib[\\w.+-]+\\.so[\\w.]*): cannot open shared object file");

  private CudaDiagnosis() {}

  static String explain(Throwable e) {
    Set<String> missing = new LinkedHashSet<>();
    StringBuilder all = new StringBuilder();
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = String.valueOf(t.getMessage());
      all.append(t.getClass().getSimpleName()).append(": ").append(m).append("; ");
      Matcher x = MISSING.matcher(m);
      while (x.find()) {
        missing.add(x.group(1));
      }
      for (Throwable s : t.getSuppressed()) {
        Matcher y = MISSING.matcher(String.valueOf(s.getMessage()));
        while (y.find()) {
          missing.add(y.group(1));
        }
      }
    }
    String text = all.toString();
    if (text.contains("NoClassDefFoundError") && text.contains("org/bytedeco")) {
      return "the JavaCPP CUDA bindings (org.bytedeco:cuda, org.bytedeco:javacpp) are not on the classpath";
    }
    if (missing.contains("libcuda.so.1")) {
      return "no NVIDIA driver: libcuda.so.1 not found (is this a machine with an NVIDIA GPU and driver?)";
    }
    if (!missing.isEmpty()) {
      return "CUDA 13 library not found: " + String.join(", ", missing)
          + " (put the folder holding the CUDA 13 libraries, e.g. /usr/local/cuda/lib64, on LD_LIBRARY_PATH)";
    }
    if (text.contains("no jni") || text.contains("UnsatisfiedLinkError")) {
      return "the CUDA JNI bindings could not be loaded (" + first(text) + ")";
    }
    return first(text);
  }

  private static String first(String text) {
    String s = text.length() > 300 ? text.substring(0, 300) + "..." : text;
    return s.replace('\n', ' ');
  }
}
