package io.bonestream.engine.model;

import io.bonestream.core.model.HostTensor;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.safetensors.SafeTensorsWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J arrays from and to safetensors files: the format itself (header, dtypes, offsets, writing)
 * is {@link SafeTensorsReader} and {@link SafeTensorsWriter}, without ND4J; this class only turns
 * their tensors into arrays and back.
 */
public final class SafeTensors {
  private SafeTensors() {}

  /** Reads one tensor, converted to {@code type} (FLOAT or DOUBLE), C order. */
  public static INDArray read(SafeTensorsReader.Entry e, DataType type) {
    return Dtypes.toArray(SafeTensorsReader.rawBytes(e), e.dtype(), e.shape(), type);
  }

  /** The tensors and string metadata of a safetensors file held in memory. */
  public record Contents(Map<String, INDArray> tensors, Map<String, String> metadata) {}

  /** Parses a whole safetensors file from bytes, checking every offset; {@code source} names it in errors. */
  public static Contents parse(byte[] data, DataType type, String source) {
    SafeTensorsReader.Contents c = SafeTensorsReader.parse(data, source);
    Map<String, INDArray> tensors = new TreeMap<>();
    c.tensors().forEach((k, t) -> tensors.put(k, Dtypes.toArray(t.bytes(), t.dtype(), t.shape(), type)));
    return new Contents(tensors, c.metadata());
  }

  /** Reads every tensor of a file. */
  public static Map<String, INDArray> readAll(Path file, DataType type) {
    Map<String, INDArray> out = new TreeMap<>();
    for (SafeTensorsReader.Entry e : SafeTensorsReader.readHeader(file).values()) {
      out.put(e.name(), read(e, type));
    }
    return out;
  }

  /** Writes arrays as F32 (see {@link SafeTensorsWriter#writeF32(Path, Map, Map)}). */
  public static void writeF32(Path file, Map<String, INDArray> tensors, Map<String, String> metadata) {
    SafeTensorsWriter.writeF32(file, host(tensors), metadata);
  }

  /** The bytes of a safetensors file of {@code tensors} as F32: the same bytes for the same input. */
  public static byte[] toBytesF32(Map<String, INDArray> tensors, Map<String, String> metadata) {
    return SafeTensorsWriter.toBytesF32(host(tensors), metadata);
  }

  /** An array as a float32 host tensor (a copy, C order). */
  public static HostTensor host(INDArray a) {
    return HostTensor.of(a.castTo(DataType.FLOAT).dup('c').data().asFloat(), a.shape());
  }

  private static Map<String, HostTensor> host(Map<String, INDArray> tensors) {
    Map<String, HostTensor> out = new LinkedHashMap<>();
    tensors.forEach((k, v) -> out.put(k, host(v)));
    return out;
  }

  /** Creates an array from float data in C order, in the given dtype. */
  static INDArray create(float[] data, long[] shape, DataType type) {
    INDArray a = Nd4j.create(data, shape, 'c');
    return type == DataType.FLOAT ? a : a.castTo(type);
  }
}
