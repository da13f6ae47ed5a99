package io.bonestream.engine.device;

/** bfloat16: the upper 16 bits of a float32, rounded to nearest-even (NaN stays NaN). */
public final class Bf16 {
  private Bf16() {}

  /** The bfloat16 bits of {@code f}. */
  public static short bits(float f) {
    int x = Float.floatToRawIntBits(f);
    if ((x & 0x7fffffff) > 0x7f800000) {
      return (short) ((x >>> 16) | 0x40); // quiet NaN
    }
    return (short) ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
  }

  /** The float32 value of bfloat16 bits. */
  public static float value(short bits) {
    return Float.intBitsToFloat((bits & 0xffff) << 16);
  }

  /** {@code f} rounded to the nearest bfloat16. */
  public static float round(float f) {
    return value(bits(f));
  }
}
