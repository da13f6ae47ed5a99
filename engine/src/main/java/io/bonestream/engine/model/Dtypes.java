package io.bonestream.engine.model;

import io.bonestream.engine.BonestreamException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Stored safetensors dtypes (F32, F16, BF16, F64) and their conversion to compute arrays. */
final class Dtypes {
  private Dtypes() {}

  static int byteSize(String dtype, Path file, String tensor) {
    return switch (dtype) {
      case "F32" -> 4;
      case "F16", "BF16" -> 2;
      case "F64" -> 8;
      default -> throw new BonestreamException(
          "unsupported dtype " + dtype + " of tensor " + tensor + (file == null ? "" : " in " + file)
              + " (supported: F32, F16, BF16, F64)");
    };
  }

  /** Converts little-endian stored bytes to a C-order array of {@code type}. Load time only. */
  static INDArray toArray(ByteBuffer raw, String dtype, long[] shape, DataType type) {
    ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    if (dtype.equals("F64")) {
      double[] d = new double[b.remaining() / 8];
      b.asDoubleBuffer().get(d);
      INDArray a = Nd4j.create(d, shape, 'c');
      return type == DataType.DOUBLE ? a : a.castTo(type);
    }
    float[] f;
    switch (dtype) {
      case "F32" -> {
        f = new float[b.remaining() / 4];
        b.asFloatBuffer().get(f);
      }
      case "F16" -> {
        f = new float[b.remaining() / 2];
        for (int i = 0; i < f.length; i++) {
          f[i] = halfToFloat(b.getShort(2 * i));
        }
      }
      case "BF16" -> {
        f = new float[b.remaining() / 2];
        for (int i = 0; i < f.length; i++) {
          f[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
        }
      }
      default -> throw new BonestreamException("unsupported dtype " + dtype);
    }
    return SafeTensors.create(f, shape, type);
  }

  /** IEEE 754 binary16 to float32, including subnormals, infinities and NaN. */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mant = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    }
    if (exp == 0) {
      if (mant == 0) {
        return Float.intBitsToFloat(sign);
      }
      // Subnormal half: value = mant * 2^-24.
      float v = mant * 0x1p-24f;
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }
}
