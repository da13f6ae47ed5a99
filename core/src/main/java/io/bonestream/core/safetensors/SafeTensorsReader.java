package io.bonestream.core.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * The backend-free half of the safetensors format: header parsing, raw stored bytes, the stored
 * dtypes (F32, F16, BF16, F64) decoded to float, and the base-model fingerprint. No ND4J, so the
 * lean GPU distribution and the subscriber read models, goldens and adapters with it; the engine's
 * {@code SafeTensors} builds ND4J arrays on top.
 */
public final class SafeTensorsReader {
  private SafeTensorsReader() {}

  /** One tensor's place in a file; offsets are absolute file positions. */
  public record Entry(Path file, String name, String dtype, long[] shape, long begin, long end) {
    public long elementCount() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /**
   * The tensors of a Hugging Face model folder: {@code model.safetensors}, or the shards listed in
   * {@code model.safetensors.index.json}; by name.
   */
  public static Map<String, Entry> modelEntries(Path dir) {
    Path single = dir.resolve("model.safetensors");
    Path index = dir.resolve("model.safetensors.index.json");
    if (Files.isRegularFile(single)) {
      return readHeader(single);
    }
    if (!Files.isRegularFile(index)) {
      throw new BonestreamException("no model weights in " + dir
          + " (expected model.safetensors or model.safetensors.index.json)");
    }
    JsonNode map = Json.readTree(index).path("weight_map");
    if (!map.isObject() || map.isEmpty()) {
      throw new BonestreamException("no weight_map in " + index);
    }
    Map<String, Map<String, Entry>> shards = new TreeMap<>();
    Map<String, Entry> out = new TreeMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String shard = e.getValue().asText();
      Map<String, Entry> h =
          shards.computeIfAbsent(shard, s -> readHeader(dir.resolve(s)));
      Entry entry = h.get(e.getKey());
      if (entry == null) {
        throw new BonestreamException("tensor " + e.getKey() + " listed in " + index
            + " is missing from " + shard);
      }
      out.put(e.getKey(), entry);
    }
    return out;
  }

  /** One tensor of a file held in memory: its stored dtype, shape and little-endian bytes. */
  public record Stored(String dtype, long[] shape, ByteBuffer bytes) {
    /** The values as float32 (F64 is rounded), C order. */
    public float[] floats() {
      return toFloats(bytes, dtype);
    }

    /** The values as a float32 host tensor. */
    public HostTensor toHost() {
      return HostTensor.of(floats(), shape);
    }
  }

  /** The tensors (by name) and string metadata of a safetensors file held in memory. */
  public record Contents(Map<String, Stored> tensors, Map<String, String> metadata) {}

  /** Parses a whole safetensors file from bytes, checking every offset; {@code source} names it in errors. */
  public static Contents parse(byte[] data, String source) {
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
    if (header == null || !header.isObject()) {
      throw new BonestreamException("corrupt safetensors header in " + source);
    }
    long start = 8 + headerLen;
    Map<String, Stored> tensors = new TreeMap<>();
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
        if (shape[i] < 0) {
          throw new BonestreamException("corrupt safetensors data in " + source + ": tensor " + f.getKey()
              + " has a negative dimension");
        }
        n = Math.multiplyExact(n, shape[i]);
      }
      String dtype = t.path("dtype").asText();
      long from = start + t.path("data_offsets").path(0).asLong();
      long to = start + t.path("data_offsets").path(1).asLong();
      if (from < start || to > data.length || to - from != n * byteSize(dtype, null, f.getKey())) {
        throw new BonestreamException("corrupt safetensors data in " + source + ": tensor " + f.getKey()
            + " does not fit its offsets");
      }
      ByteBuffer slice = ByteBuffer.wrap(data, (int) from, (int) (to - from)).slice().order(ByteOrder.LITTLE_ENDIAN);
      tensors.put(f.getKey(), new Stored(dtype, shape, slice));
    }
    return new Contents(tensors, metadata);
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

  /** Bytes per element of a stored dtype; any other dtype is an error naming the tensor. */
  public static int byteSize(String dtype, Path file, String tensor) {
    return switch (dtype) {
      case "F32" -> 4;
      case "F16", "BF16" -> 2;
      case "F64" -> 8;
      default -> throw new BonestreamException(
          "unsupported dtype " + dtype + " of tensor " + tensor + (file == null ? "" : " in " + file)
              + " (supported: F32, F16, BF16, F64)");
    };
  }

  /** Parses the header of {@code file} and checks every tensor lies inside the file. */
  public static Map<String, Entry> readHeader(Path file) {
    long size;
    JsonNode header;
    long dataStart;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      size = ch.size();
      if (size < 8) {
        throw new BonestreamException(
            "truncated safetensors file " + file + ": " + size + " bytes, not even a header");
      }
      ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(ch, lenBuf, 0);
      long headerLen = lenBuf.getLong(0);
      if (headerLen <= 0 || headerLen > 100_000_000L || 8 + headerLen > size) {
        throw new BonestreamException(
            "truncated or corrupt safetensors file " + file + ": header of " + headerLen
                + " bytes does not fit in a file of " + size + " bytes");
      }
      ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
      readFully(ch, hb, 8);
      try {
        header = Json.MAPPER.readTree(new String(hb.array(), StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new BonestreamException("corrupt safetensors header in " + file);
      }
      dataStart = 8 + headerLen;
    } catch (NoSuchFileException e) {
      throw new BonestreamException("file not found: " + file);
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    Map<String, Entry> entries = new TreeMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> f = it.next();
      if (f.getKey().equals("__metadata__")) {
        continue;
      }
      JsonNode t = f.getValue();
      String dtype = t.path("dtype").asText();
      JsonNode shapeNode = t.path("shape");
      long[] shape = new long[shapeNode.size()];
      for (int i = 0; i < shape.length; i++) {
        shape[i] = shapeNode.get(i).asLong();
      }
      long begin = dataStart + t.path("data_offsets").path(0).asLong();
      long end = dataStart + t.path("data_offsets").path(1).asLong();
      Entry e = new Entry(file, f.getKey(), dtype, shape, begin, end);
      long expected = e.elementCount() * byteSize(dtype, file, f.getKey());
      if (end - begin != expected) {
        throw new BonestreamException(
            "corrupt safetensors file " + file + ": tensor " + f.getKey() + " has "
                + (end - begin) + " bytes, its shape needs " + expected);
      }
      if (end > size) {
        throw new BonestreamException(
            "truncated safetensors file " + file + ": tensor " + f.getKey() + " ends at byte "
                + end + " but the file has " + size + " bytes");
      }
      entries.put(f.getKey(), e);
    }
    return entries;
  }

  /** The raw stored bytes of one tensor, little-endian (memory-mapped). */
  public static ByteBuffer rawBytes(Entry e) {
    try (FileChannel ch = FileChannel.open(e.file(), StandardOpenOption.READ)) {
      return ch.map(FileChannel.MapMode.READ_ONLY, e.begin(), e.end() - e.begin())
          .order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException ex) {
      throw new BonestreamException("cannot read " + e.file() + ": " + ex.getMessage());
    }
  }

  /** One tensor's values as float32 (F64 is rounded), C order. */
  public static float[] readFloats(Entry e) {
    return toFloats(rawBytes(e), e.dtype());
  }

  /** Decodes little-endian stored values of {@code dtype} to float32. */
  public static float[] toFloats(ByteBuffer raw, String dtype) {
    ByteBuffer b = raw.duplicate().order(ByteOrder.LITTLE_ENDIAN);
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
      case "F64" -> {
        f = new float[b.remaining() / 8];
        for (int i = 0; i < f.length; i++) {
          f[i] = (float) b.getDouble(8 * i);
        }
      }
      default -> throw new BonestreamException("unsupported dtype " + dtype);
    }
    return f;
  }

  /** IEEE 754 binary16 to float32, including subnormals, infinities and NaN. */
  public static float halfToFloat(short h) {
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

  /**
   * Adds one stored tensor to a base-model fingerprint: the UTF-8 name, a zero byte, the dtype, a
   * zero byte, the shape as comma-separated decimals, a zero byte, and the raw stored bytes.
   */
  public static void fingerprint(MessageDigest sha, Entry e, ByteBuffer raw) {
    sha.update(e.name().getBytes(StandardCharsets.UTF_8));
    sha.update((byte) 0);
    sha.update(e.dtype().getBytes(StandardCharsets.UTF_8));
    sha.update((byte) 0);
    sha.update(shapeString(e.shape()).getBytes(StandardCharsets.UTF_8));
    sha.update((byte) 0);
    sha.update(raw.duplicate());
  }

  static String shapeString(long[] shape) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < shape.length; i++) {
      sb.append(i == 0 ? "" : ",").append(shape[i]);
    }
    return sb.toString();
  }

  static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
    while (buf.hasRemaining()) {
      int n = ch.read(buf, pos + buf.position());
      if (n < 0) {
        throw new IOException("unexpected end of file");
      }
    }
  }
}
