package io.bonestream.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.util.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
 * ({@code name -> {dtype, shape, data_offsets}}), then the raw little-endian tensor bytes.
 * Tensors are memory-mapped one at a time, so files larger than the heap can be read.
 */
public final class SafeTensors {
  private SafeTensors() {}

  /** One tensor's place in a file (see {@link SafeTensorsReader.Entry}). */
  public static Map<String, SafeTensorsReader.Entry> readHeader(Path file) {
    return SafeTensorsReader.readHeader(file);
  }

  /** The string metadata of a file ({@code __metadata__}), empty if none. */
  public static Map<String, String> readMetadata(Path file) {
    readHeader(file); // validates
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      ByteBuffer hb = ByteBuffer.allocate((int) lenBuf.getLong(0));
      readFully(ch, hb, 8);
      JsonNode md = Json.MAPPER.readTree(new String(hb.array(), StandardCharsets.UTF_8)).path("__metadata__");
      Map<String, String> out = new TreeMap<>();
      md.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
      return out;
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
  }

  /** The raw stored bytes of one tensor, little-endian. */
  public static ByteBuffer rawBytes(SafeTensorsReader.Entry e) {
    return SafeTensorsReader.rawBytes(e);
  }

  /** Reads one tensor, converted to {@code type} (FLOAT or DOUBLE), C order. */
  public static INDArray read(SafeTensorsReader.Entry e, DataType type) {
    return Dtypes.toArray(rawBytes(e), e.dtype(), e.shape(), type);
  }

  /** The tensors and string metadata of a safetensors file held in memory. */
  public record Contents(Map<String, INDArray> tensors, Map<String, String> metadata) {}

  /** Parses a whole safetensors file from bytes, checking every offset; {@code source} names it in errors. */
  public static Contents parse(byte[] data, DataType type, String source) {
    ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    if (data.length < 8) {
      throw new BonestreamException("truncated safetensors data in " + source);
    }
    long headerLen = b.getLong(0);
    if (headerLen <= 0 || 8 + headerLen > data.length) {
      throw new BonestreamException("corrupt safetensors data in " + source + ": bad header length");
    }
    JsonNode header;
    try {
      header = Json.MAPPER.readTree(new String(data, 8, (int) headerLen, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new BonestreamException("corrupt safetensors header in " + source);
    }
    long start = 8 + headerLen;
    Map<String, INDArray> tensors = new TreeMap<>();
    Map<String, String> metadata = new TreeMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> f = it.next();
      if (f.getKey().equals("__metadata__")) {
        f.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
        continue;
      }
      JsonNode t = f.getValue();
      long[] shape = new long[t.path("shape").size()];
      long n = 1;
      for (int i = 0; i < shape.length; i++) {
        shape[i] = t.path("shape").get(i).asLong();
        n *= shape[i];
      }
      String dtype = t.path("dtype").asText();
      long from = start + t.path("data_offsets").path(0).asLong();
      long to = start + t.path("data_offsets").path(1).asLong();
      if (from < start || to > data.length || to - from != n * SafeTensorsReader.byteSize(dtype, null, f.getKey())) {
        throw new BonestreamException("corrupt safetensors data in " + source + ": tensor " + f.getKey()
            + " does not fit its offsets");
      }
      ByteBuffer slice = ByteBuffer.wrap(data, (int) from, (int) (to - from)).slice().order(ByteOrder.LITTLE_ENDIAN);
      tensors.put(f.getKey(), Dtypes.toArray(slice, dtype, shape, type));
    }
    return new Contents(tensors, metadata);
  }

  /** Reads every tensor of a file. */
  public static Map<String, INDArray> readAll(Path file, DataType type) {
    Map<String, INDArray> out = new TreeMap<>();
    for (SafeTensorsReader.Entry e : readHeader(file).values()) {
      out.put(e.name(), read(e, type));
    }
    return out;
  }

  /**
   * Writes tensors as F32 (sorted by name, as the reference tools do) with optional string
   * metadata; the file appears atomically (written beside, then renamed).
   */
  public static void writeF32(Path file, Map<String, INDArray> tensors, Map<String, String> metadata) {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (OutputStream out = Files.newOutputStream(tmp)) {
      writeF32(out, tensors, metadata);
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
    try {
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
  }

  /** The bytes of a safetensors file of {@code tensors} as F32: the same bytes for the same input. */
  public static byte[] toBytesF32(Map<String, INDArray> tensors, Map<String, String> metadata) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try {
      writeF32(out, tensors, metadata);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  private static void writeF32(OutputStream out, Map<String, INDArray> tensors,
      Map<String, String> metadata) throws IOException {
    List<String> names = new ArrayList<>(tensors.keySet());
    Collections.sort(names);
    ObjectNode header = Json.MAPPER.createObjectNode();
    long offset = 0;
    Map<String, INDArray> asFloat = new LinkedHashMap<>();
    for (String name : names) {
      INDArray t = tensors.get(name).castTo(DataType.FLOAT);
      asFloat.put(name, t);
      long bytes = t.length() * 4;
      ObjectNode n = header.putObject(name);
      n.put("dtype", "F32");
      var shape = n.putArray("shape");
      for (long d : t.shape()) {
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
    for (INDArray t : asFloat.values()) {
      float[] data = t.dup('c').data().asFloat();
      ByteBuffer bb = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      bb.asFloatBuffer().put(data);
      out.write(bb.array());
    }
  }

  /** Creates an array from float data in C order, in the given dtype. */
  static INDArray create(float[] data, long[] shape, DataType type) {
    INDArray a = Nd4j.create(data, shape, 'c');
    return type == DataType.FLOAT ? a : a.castTo(type);
  }

  private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    SafeTensorsReader.readFully(ch, buf, pos);
  }

}
