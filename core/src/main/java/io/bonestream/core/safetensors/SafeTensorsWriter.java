package io.bonestream.core.safetensors;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Json;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Writes safetensors files as F32: tensors sorted by name (as the reference tools do), string
 * metadata, the header padded to 8 bytes. The same input gives the same bytes.
 */
public final class SafeTensorsWriter {
  private SafeTensorsWriter() {}

  /** The bytes of a file holding {@code tensors}. */
  public static byte[] toBytesF32(Map<String, HostTensor> tensors, Map<String, String> metadata) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      write(out, shapes(tensors), metadata, name -> tensors.get(name).toFloats());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  /** Writes {@code tensors} to {@code file}; the file appears atomically (written beside, then renamed). */
  public static void writeF32(Path file, Map<String, HostTensor> tensors, Map<String, String> metadata) {
    writeF32(file, shapes(tensors), metadata, name -> tensors.get(name).toFloats());
  }

  /**
   * Writes the tensors named in {@code shapes}, asking {@code values} for one tensor's float32
   * values at a time (so a whole model need never be in memory at once); atomic as above.
   */
  public static void writeF32(Path file, SortedMap<String, long[]> shapes, Map<String, String> metadata,
      Function<String, float[]> values) {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
      write(out, shapes, metadata, values);
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
    try {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
  }

  private static SortedMap<String, long[]> shapes(Map<String, HostTensor> tensors) {
    SortedMap<String, long[]> s = new TreeMap<>();
    tensors.forEach((k, v) -> s.put(k, v.shape()));
    return s;
  }

  private static void write(OutputStream out, SortedMap<String, long[]> shapes, Map<String, String> metadata,
      Function<String, float[]> values) throws IOException {
    ObjectNode header = Json.MAPPER.createObjectNode();
    long offset = 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      long bytes = HostTensor.elementCount(e.getValue()) * 4;
      ObjectNode n = header.putObject(e.getKey());
      n.put("dtype", "F32");
      var shape = n.putArray("shape");
      for (long d : e.getValue()) {
        shape.add(d);
      }
      n.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    if (!metadata.isEmpty()) {
      ObjectNode md = header.putObject("__metadata__");
      new TreeMap<>(metadata).forEach(md::put);
    }
    byte[] hj = Json.toCompactString(header).getBytes(StandardCharsets.UTF_8);
    int pad = (8 - hj.length % 8) % 8;
    ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    len.putLong(hj.length + pad);
    out.write(len.array());
    out.write(hj);
    for (int i = 0; i < pad; i++) {
      out.write(' ');
    }
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      float[] data = values.apply(e.getKey());
      if (data.length != HostTensor.elementCount(e.getValue())) {
        throw new IllegalArgumentException("tensor " + e.getKey() + " of shape " + Arrays.toString(e.getValue())
            + " got " + data.length + " values");
      }
      ByteBuffer bb = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      bb.asFloatBuffer().put(data);
      out.write(bb.array());
    }
  }
}
