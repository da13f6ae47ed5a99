package io.bonestream.engine.model;

import io.bonestream.core.safetensors.SafeTensorsReader;
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
    return SafeTensorsReader.byteSize(dtype, file, tensor);
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
    float[] f = SafeTensorsReader.toFloats(b, dtype);
    return SafeTensors.create(f, shape, type);
  }

  /** IEEE 754 binary16 to float32, including subnormals, infinities and NaN. */
  static float halfToFloat(short h) {
    return SafeTensorsReader.halfToFloat(h);
  }
}
