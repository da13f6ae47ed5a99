package io.bonestream.engine.backend.cuda;

import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBIN;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBINSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetErrorString;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetSupportedArchs;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetNumSupportedArchs;
import static org.bytedeco.cuda.global.nvrtc.nvrtcVersion;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Compiles CUDA source to a CUBIN for a chosen architecture with NVRTC alone: no GPU, no context,
 * only libnvrtc (what {@link CudaDevice} does at start for its own GPU, with the same options).
 */
public final class NvrtcCompiler {
  private NvrtcCompiler() {}

  /** A compilation: the CUBIN, or the error and NVRTC's log. */
  public record Result(String arch, byte[] cubin, String log, String error, double seconds) {
    public boolean ok() {
      return error == null;
    }
  }

  /** Loads the NVRTC bindings, or fails with one line naming what is missing. */
  public static void load() {
    try {
      org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.nvrtc.class);
    } catch (Throwable e) {
      throw new CudaUnavailableException("NVRTC unavailable: " + CudaDiagnosis.explain(e));
    }
  }

  /** NVRTC's version, e.g. {@code 13.0}. */
  public static String version() {
    int[] major = new int[1];
    int[] minor = new int[1];
    check(nvrtcVersion(major, minor), "nvrtcVersion");
    return major[0] + "." + minor[0];
  }

  /** The architectures this NVRTC compiles for, as {@code sm_XY}. */
  public static List<String> supportedArchs() {
    int[] n = new int[1];
    check(nvrtcGetNumSupportedArchs(n), "nvrtcGetNumSupportedArchs");
    int[] archs = new int[n[0]];
    check(nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs");
    List<String> out = new ArrayList<>();
    for (int a : archs) {
      out.add("sm_" + a);
    }
    return out;
  }

  /** Compiles {@code source} (named {@code name} in messages) for {@code arch}, e.g. {@code sm_86}. */
  public static Result compile(String source, String name, String arch) {
    long t0 = System.nanoTime();
    _nvrtcProgram prog = new _nvrtcProgram();
    check(nvrtcCreateProgram(prog, new BytePointer(source), new BytePointer(name), 0,
        (PointerPointer<?>) null, (PointerPointer<?>) null), "nvrtcCreateProgram");
    try {
      // the options CudaDevice compiles kernels.cu with, for its own GPU's sm_XY
      String[] options = {"--gpu-architecture=" + arch, "-std=c++17"};
      int rc = nvrtcCompileProgram(prog, options.length, new PointerPointer<>(options));
      SizeTPointer size = new SizeTPointer(1);
      nvrtcGetProgramLogSize(prog, size);
      BytePointer logText = new BytePointer(Math.max(1, size.get()));
      nvrtcGetProgramLog(prog, logText);
      String log = logText.getString().strip();
      if (rc != 0) {
        return new Result(arch, null, log, "nvrtcCompileProgram failed with error " + rc + " (" + errorName(rc) + ")", seconds(t0));
      }
      check(nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize");
      byte[] cubin = new byte[(int) size.get()];
      check(nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN");
      return new Result(arch, cubin, log, null, seconds(t0));
    } finally {
      nvrtcDestroyProgram(prog);
    }
  }

  private static void check(int rc, String what) {
    if (rc != 0) {
      throw new IllegalStateException(what + " failed with error " + rc + " (" + errorName(rc) + ")");
    }
  }

  private static String errorName(int rc) {
    BytePointer s = nvrtcGetErrorString(rc);
    return s == null ? "?" : s.getString();
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
