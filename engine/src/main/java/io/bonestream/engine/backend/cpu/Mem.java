package io.bonestream.engine.backend.cpu;

import java.lang.reflect.Field;

/**
 * Off-heap memory of the {@link CpuDevice}: allocation and element access by address through
 * {@code sun.misc.Unsafe} (no bounds checks: every kernel is checked against the Java reference
 * device by {@code DeviceCheck}). Addresses are of native memory, never of Java objects.
 */
final class Mem {
  private static final sun.misc.Unsafe U = unsafe();
  private static final long FLOATS = U.arrayBaseOffset(float[].class);
  private static final long INTS = U.arrayBaseOffset(int[].class);

  private Mem() {}

  private static sun.misc.Unsafe unsafe() {
    try {
      Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      return (sun.misc.Unsafe) f.get(null);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException("sun.misc.Unsafe is not available", e);
    }
  }

  /** {@code bytes} of zeroed native memory. */
  static long calloc(long bytes) {
    long a = U.allocateMemory(bytes);
    U.setMemory(a, bytes, (byte) 0);
    return a;
  }

  static void free(long address) {
    U.freeMemory(address);
  }

  /** The float at element {@code i} of the array at {@code address}. */
  static float f(long address, long i) {
    return U.getFloat(address + (i << 2));
  }

  static void f(long address, long i, float v) {
    U.putFloat(address + (i << 2), v);
  }

  static int i(long address, long i) {
    return U.getInt(address + (i << 2));
  }

  static void zero(long address, long bytes) {
    U.setMemory(address, bytes, (byte) 0);
  }

  static void copy(long from, long to, long bytes) {
    U.copyMemory(from, to, bytes);
  }

  static void put(float[] src, long address) {
    U.copyMemory(src, FLOATS, null, address, (long) src.length << 2);
  }

  static void put(int[] src, long address) {
    U.copyMemory(src, INTS, null, address, (long) src.length << 2);
  }

  static void get(long address, float[] dst) {
    U.copyMemory(null, address, dst, FLOATS, (long) dst.length << 2);
  }
}
