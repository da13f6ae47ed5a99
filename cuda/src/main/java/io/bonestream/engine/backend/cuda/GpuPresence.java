package io.bonestream.engine.backend.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Whether this machine has an NVIDIA GPU, found without the CUDA runtime having to work: the GPU
 * device files the driver creates ({@code /dev/nvidia0}, ...), and the driver API's own count
 * ({@code cuInit}, {@code cuDeviceGetCount}) where the bindings load. Tests use it to tell "no GPU
 * here" (skip) from "a GPU is here and the backend failed" (fail).
 *
 * @param deviceFiles GPU device files under /dev (not nvidiactl, nvidia-uvm, ...)
 * @param driverCount the driver API's device count; -1 when it could not be asked
 * @param driverNote why the driver API could not be asked, or its error; empty otherwise
 * @param arch the compute capability of GPU 0 as {@code sm_XY}; null when unknown
 */
public record GpuPresence(int deviceFiles, int driverCount, String driverNote, String arch) {
  private static final Pattern GPU_FILE = Pattern.compile("nvidia\\d+");
  /** CUDA_ERROR_NO_DEVICE: the driver is there and sees no GPU. */
  private static final int NO_DEVICE = 100;

  /** True when a GPU is here: the driver API counts one, or (when it cannot be asked) a device file shows one. */
  public boolean gpuPresent() {
    return driverCount >= 0 ? driverCount > 0 : deviceFiles > 0;
  }

  /** One line: what was found, and how. */
  public String describe() {
    String driver = driverCount >= 0 ? "driver API counts " + driverCount + " GPU(s)"
        : "driver API not reachable (" + driverNote + ")";
    return deviceFiles + " GPU device file(s) under /dev, " + driver + (arch == null ? "" : ", GPU 0 is " + arch);
  }

  /** Probes this machine. Never throws. */
  public static GpuPresence probe() {
    int files = countDeviceFiles(Path.of("/dev"));
    // Only ask the driver API through the bindings when their libraries are there: a failed load
    // poisons the bindings' classes for the JVM, and CudaDevice's own first attempt would then
    // lose its precise diagnosis (which library is missing).
    for (String lib : new String[] {"libcuda.so.1", "libcudart.so.13"}) {
      if (!findable(lib, searchPath())) {
        return new GpuPresence(files, -1, lib + " not found", null);
      }
    }
    try {
      return driver(files);
    } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ...: the bindings do not load
      return new GpuPresence(files, -1, CudaDiagnosis.explain(e), null);
    }
  }

  private static GpuPresence driver(int files) {
    org.bytedeco.javacpp.Loader.load(org.bytedeco.cuda.global.cudart.class);
    int rc = org.bytedeco.cuda.global.cudart.cuInit(0);
    if (rc == NO_DEVICE) {
      return new GpuPresence(files, 0, "", null);
    }
    if (rc != 0) {
      return new GpuPresence(files, -1, "cuInit failed with error " + rc, null);
    }
    int[] count = new int[1];
    rc = org.bytedeco.cuda.global.cudart.cuDeviceGetCount(count);
    if (rc != 0) {
      return new GpuPresence(files, -1, "cuDeviceGetCount failed with error " + rc, null);
    }
    return new GpuPresence(files, count[0], "", count[0] > 0 ? arch0() : null);
  }

  /** GPU 0's compute capability through the driver API (no context, no runtime call). */
  private static String arch0() {
    int[] dev = new int[1];
    int[] major = new int[1];
    int[] minor = new int[1];
    if (org.bytedeco.cuda.global.cudart.cuDeviceGet(dev, 0) != 0
        || org.bytedeco.cuda.global.cudart.cuDeviceGetAttribute(major,
            org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev[0]) != 0
        || org.bytedeco.cuda.global.cudart.cuDeviceGetAttribute(minor,
            org.bytedeco.cuda.global.cudart.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev[0]) != 0) {
      return null;
    }
    return "sm_" + major[0] + minor[0];
  }

  /**
   * The folders the dynamic linker searches, roughly: LD_LIBRARY_PATH, the folders of
   * /etc/ld.so.conf and /etc/ld.so.conf.d/*.conf, and the usual system and CUDA ones.
   */
  static List<Path> searchPath() {
    List<Path> dirs = new ArrayList<>();
    String ld = System.getenv("LD_LIBRARY_PATH");
    if (ld != null) {
      for (String d : ld.split(":")) {
        if (!d.isBlank()) {
          dirs.add(Path.of(d));
        }
      }
    }
    List<Path> conf = new ArrayList<>(List.of(Path.of("/etc/ld.so.conf")));
    try (Stream<Path> s = Files.list(Path.of("/etc/ld.so.conf.d"))) {
      s.filter(p -> p.toString().endsWith(".conf")).sorted().forEach(conf::add);
    } catch (IOException | SecurityException e) {
      // no such folder: the defaults below
    }
    for (Path c : conf) {
      try {
        for (String line : Files.readAllLines(c)) {
          String t = line.strip();
          if (t.startsWith("/")) {
            dirs.add(Path.of(t));
          }
        }
      } catch (IOException | SecurityException e) {
        // unreadable: skipped
      }
    }
    for (String d : new String[] {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
        "/usr/lib", "/usr/local/cuda/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"}) {
      dirs.add(Path.of(d));
    }
    return dirs;
  }

  /** Whether a shared library of that file name is in one of the folders. */
  static boolean findable(String file, List<Path> dirs) {
    return dirs.stream().anyMatch(d -> Files.exists(d.resolve(file)));
  }

  /** The GPU device files ({@code nvidia0}, {@code nvidia1}, ...) in a /dev folder. */
  static int countDeviceFiles(Path dev) {
    try (Stream<Path> s = Files.list(dev)) {
      return (int) s.filter(p -> GPU_FILE.matcher(p.getFileName().toString()).matches()).count();
    } catch (IOException | SecurityException e) {
      return 0;
    }
  }
}
