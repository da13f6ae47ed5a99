package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.safetensors.SafeTensorsReader;
import java.nio.file.Path;
import java.util.Map;

/**
 * Adapters equal up to float32 rounding: the same tensors, each within 1e-4 of the expected one's
 * L2 norm. For state written by an earlier build, whose arithmetic may have summed in another
 * order; a run of one build is compared byte for byte instead.
 */
public final class AdapterTensors {
  private AdapterTensors() {}

  /** Two safetensors files. */
  public static void assertClose(Path expected, Path actual) {
    Map<String, SafeTensorsReader.Entry> e = SafeTensorsReader.readHeader(expected);
    Map<String, SafeTensorsReader.Entry> a = SafeTensorsReader.readHeader(actual);
    assertEquals(e.keySet(), a.keySet(), "tensors");
    for (String k : e.keySet()) {
      assertClose(k, SafeTensorsReader.readFloats(e.get(k)), SafeTensorsReader.readFloats(a.get(k)));
    }
  }

  /** Two safetensors files held in memory. */
  public static void assertClose(String name, byte[] expected, byte[] actual) {
    var e = SafeTensorsReader.parse(expected, "expected").tensors();
    var a = SafeTensorsReader.parse(actual, "actual").tensors();
    assertEquals(e.keySet(), a.keySet(), name + ": tensors");
    for (String k : e.keySet()) {
      assertClose(name + " " + k, e.get(k).floats(), a.get(k).floats());
    }
  }

  private static void assertClose(String what, float[] x, float[] y) {
    assertEquals(x.length, y.length, what);
    double diff = 0;
    double norm = 0;
    for (int i = 0; i < x.length; i++) {
      diff += (x[i] - y[i]) * (double) (x[i] - y[i]);
      norm += x[i] * (double) x[i];
    }
    assertTrue(Math.sqrt(diff) <= 1e-4 * Math.sqrt(norm) + 1e-9,
        what + ": off by " + Math.sqrt(diff) + " (norm " + Math.sqrt(norm) + ")");
  }
}
