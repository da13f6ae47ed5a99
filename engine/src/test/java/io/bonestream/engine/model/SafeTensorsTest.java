package io.bonestream.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SafeTensorsTest {
  /** Writes a safetensors file by hand: one tensor of raw little-endian bytes. */
  private static void writeRaw(Path file, String dtype, long[] shape, byte[] data) throws Exception {
    ObjectNode h = Json.MAPPER.createObjectNode();
    ObjectNode t = h.putObject("t");
    t.put("dtype", dtype);
    var s = t.putArray("shape");
    for (long d : shape) {
      s.add(d);
    }
    t.putArray("data_offsets").add(0).add(data.length);
    byte[] hj = Json.toCompactString(h).getBytes(StandardCharsets.UTF_8);
    try (OutputStream out = Files.newOutputStream(file)) {
      out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hj.length).array());
      out.write(hj);
      out.write(data);
    }
  }

  @Test
  void decodesHalfAndBfloat16(@TempDir Path tmp) throws Exception {
    // IEEE half: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, smallest subnormal 2^-24 = 0x0001, 65504 = 0x7BFF
    short[] half = {0x3C00, (short) 0xC000, 0x3800, 0x0001, 0x7BFF};
    float[] expected = {1f, -2f, 0.5f, (float) Math.pow(2, -24), 65504f};
    ByteBuffer hb = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
    for (short v : half) {
      hb.putShort(v);
    }
    writeRaw(tmp.resolve("h.safetensors"), "F16", new long[] {5}, hb.array());
    assertArrayEquals(expected, SafeTensors.readAll(tmp.resolve("h.safetensors"), DataType.FLOAT).get("t").toFloatVector());
    // bfloat16 is the top half of a float32: 1.0 = 0x3F80, -2.0 = 0xC000, 0.5 = 0x3F00, 3.140625 = 0x4049
    short[] bf = {0x3F80, (short) 0xC000, 0x3F00, 0x4049};
    ByteBuffer bb = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    for (short v : bf) {
      bb.putShort(v);
    }
    writeRaw(tmp.resolve("b.safetensors"), "BF16", new long[] {2, 2}, bb.array());
    assertArrayEquals(new float[] {1f, -2f, 0.5f, 3.140625f},
        SafeTensors.readAll(tmp.resolve("b.safetensors"), DataType.FLOAT).get("t").reshape(4).toFloatVector());
  }

  @Test
  void writesAndReadsBackExactly(@TempDir Path tmp) {
    Map<String, INDArray> t = new TreeMap<>();
    t.put("b", Nd4j.randn(DataType.FLOAT, 3, 5));
    t.put("a", Nd4j.randn(DataType.FLOAT, 7));
    SafeTensors.writeF32(tmp.resolve("x.safetensors"), t, Map.of("k", "v"));
    Map<String, INDArray> back = SafeTensors.readAll(tmp.resolve("x.safetensors"), DataType.FLOAT);
    assertEquals(t, back);
    assertEquals("v", SafeTensorsReader.readMetadata(tmp.resolve("x.safetensors")).get("k"));
  }

  @Test
  void refusesATruncatedFile(@TempDir Path tmp) throws Exception {
    byte[] full = Files.readAllBytes(TestFiles.stories260K().resolve("model.safetensors"));
    Path dir = tmp.resolve("m");
    Files.createDirectories(dir);
    Files.copy(TestFiles.stories260K().resolve("config.json"), dir.resolve("config.json"));
    Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(full, full.length - 1000));
    BonestreamException e = assertThrows(BonestreamException.class, () -> BaseModel.load(dir));
    assertTrue(e.getMessage().startsWith("truncated safetensors file"), e.getMessage());
    Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(full, 4));
    e = assertThrows(BonestreamException.class, () -> BaseModel.load(dir));
    assertTrue(e.getMessage().contains("truncated"), e.getMessage());
  }

  @Test
  void shardedCheckpointGivesTheSameModelAndFingerprint(@TempDir Path tmp) throws Exception {
    Path src = TestFiles.stories260K();
    Map<String, INDArray> all = SafeTensors.readAll(src.resolve("model.safetensors"), DataType.FLOAT);
    Map<String, INDArray> first = new LinkedHashMap<>();
    Map<String, INDArray> second = new LinkedHashMap<>();
    ObjectNode index = Json.MAPPER.createObjectNode();
    ObjectNode map = index.putObject("weight_map");
    for (String k : all.keySet()) {
      boolean one = k.contains("layers.0.") || k.contains("embed");
      (one ? first : second).put(k, all.get(k));
      map.put(k, one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
    }
    Path dir = tmp.resolve("sharded");
    Files.createDirectories(dir);
    Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
    SafeTensors.writeF32(dir.resolve("model-00001-of-00002.safetensors"), first, Map.of());
    SafeTensors.writeF32(dir.resolve("model-00002-of-00002.safetensors"), second, Map.of());
    Json.write(dir.resolve("model.safetensors.index.json"), index);
    BaseModel a = BaseModel.load(src);
    BaseModel b = BaseModel.load(dir);
    assertEquals(a.fingerprint(), b.fingerprint());
    assertEquals(a.namedTensors(), b.namedTensors());
    assertEquals(64, a.fingerprint().length());
  }

  @Test
  void refusesAFolderWithoutWeightsAndUnknownArchitectures(@TempDir Path tmp) throws Exception {
    Files.copy(TestFiles.stories260K().resolve("config.json"), tmp.resolve("config.json"));
    BonestreamException e = assertThrows(BonestreamException.class, () -> BaseModel.load(tmp));
    assertTrue(e.getMessage().startsWith("no model weights in"), e.getMessage());
    ObjectNode c = (ObjectNode) Json.readTree(tmp.resolve("config.json"));
    c.put("model_type", "gpt2");
    Json.write(tmp.resolve("config.json"), c);
    e = assertThrows(BonestreamException.class, () -> BaseModel.load(tmp));
    assertTrue(e.getMessage().contains("'gpt2'"), e.getMessage());
  }
}
