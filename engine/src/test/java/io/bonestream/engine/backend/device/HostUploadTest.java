package io.bonestream.engine.backend.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.Projection;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.DeviceBackends;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A device backend takes the base model straight from the folder's memory-mapped files: the
 * chunked upload puts the same values on the device as the ND4J arrays would, and a trainer on a
 * device (here the Java device, as a GPU would) steps, evaluates, saves its state and exports
 * without the ND4J float32 copy of the base ever being made.
 */
@Timeout(120)
class HostUploadTest {
  @Test
  void aChunkedUploadFromTheFilesEqualsTheArrays() {
    HostModel host = HostModel.load(TestFiles.stories260K());
    BaseModel arrays = BaseModel.of(host, DataType.FLOAT);
    JavaDevice device = new JavaDevice();
    for (Precision p : Precision.values()) {
      try (DeviceModel fromFiles = DeviceModel.upload(device, host, p, 1000); // many chunks, a short last one
          DeviceModel fromArrays = DeviceModel.fromTensors(device, arrays.config(), p, arrays.name(),
              arrays.fingerprint(), floats(arrays))) {
        assertArrayEquals(device.download(fromArrays.embed()), device.download(fromFiles.embed()), p + " embed");
        for (int l = 0; l < host.config().numLayers(); l++) {
          for (Projection proj : Projection.values()) {
            assertArrayEquals(device.download(fromArrays.layer(l).weight(proj)),
                device.download(fromFiles.layer(l).weight(proj)), p + " " + proj.modulePath(l));
          }
        }
      }
    }
  }

  /**
   * A bf16 checkpoint (stories260K's weights rounded to bf16, written as BF16 safetensors) reaches a
   * bf16 device as its stored bytes ({@code Device.uploadBytes}) and a float32 one converted: both
   * equal the rounded values uploaded as floats.
   */
  @Test
  void aBf16CheckpointArrivesAsItIsStored(@TempDir Path dir) throws Exception {
    HostModel f32 = HostModel.load(TestFiles.stories260K());
    Files.copy(TestFiles.stories260K().resolve("config.json"), dir.resolve("config.json"));
    java.util.Map<String, float[]> rounded = new java.util.TreeMap<>();
    StringBuilder header = new StringBuilder("{");
    java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
    for (String name : f32.tensorNames()) {
      float[] v = f32.floats(name);
      float[] r = new float[v.length];
      java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(2 * v.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      for (int i = 0; i < v.length; i++) {
        short bits = io.bonestream.engine.device.Bf16.bits(v[i]);
        b.putShort(bits);
        r[i] = Float.intBitsToFloat((bits & 0xffff) << 16);
      }
      rounded.put(name, r);
      header.append(header.length() > 1 ? "," : "").append('"').append(name).append("\":{\"dtype\":\"BF16\",\"shape\":")
          .append(java.util.Arrays.toString(f32.shape(name)).replace(" ", "")).append(",\"data_offsets\":[")
          .append(data.size()).append(',').append(data.size() + b.capacity()).append("]}");
      data.write(b.array());
    }
    byte[] head = header.append('}').toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    try (java.io.OutputStream out = Files.newOutputStream(dir.resolve("model.safetensors"))) {
      out.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(head.length).array());
      out.write(head);
      data.writeTo(out);
    }
    HostModel host = HostModel.load(dir);
    assertEquals("BF16", host.dtype("model.embed_tokens.weight"));
    JavaDevice device = new JavaDevice();
    for (Precision p : Precision.values()) {
      try (DeviceModel fromFiles = DeviceModel.upload(device, host, p, 1000);
          DeviceModel fromFloats = DeviceModel.fromTensors(device, host.config(), p, host.name(), host.fingerprint(),
              rounded)) {
        assertArrayEquals(device.download(fromFloats.embed()), device.download(fromFiles.embed()), p + " embed");
        for (int l = 0; l < host.config().numLayers(); l++) {
          for (Projection proj : Projection.values()) {
            assertArrayEquals(device.download(fromFloats.layer(l).weight(proj)),
                device.download(fromFiles.layer(l).weight(proj)), p + " " + proj.modulePath(l));
          }
        }
      }
    }
  }

  @Test
  void aTrainerOnADeviceNeverMakesTheNd4jCopy() {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    List<Example> examples = new ArrayList<>();
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
      ExampleEncoder enc = new ExampleEncoder(tok, 48, base.config().vocabSize());
      for (String c : List.of("red", "blue", "green", "pink")) {
        examples.add(enc.promptResponse(null, "Lily has a " + c + " ball. What color is the ball?",
            "The ball is " + c + "."));
      }
    }
    assertFalse(base.materialized(), "loading made the arrays");
    try (DeviceBackends device = DeviceBackends.on(new JavaDevice(), Precision.FP32)) {
      for (AdapterMethod m : List.of(AdapterMethod.BONE, AdapterMethod.BAT)) {
        Trainer t = Trainer.create(base, AdapterConfig.builder().method(m).r(4).build(),
            TrainConfig.builder().lr(1e-2).batchSize(4).build(), device);
        double first = t.step(examples).loss();
        for (int s = 0; s < 4; s++) {
          t.step(examples);
        }
        double after = t.evaluate(examples);
        assertTrue(after < first, m + ": the loss did not fall: " + first + " -> " + after);
        assertTrue(t.encodedState().length > 0);
        PeftExporter.render(t.adapters(), base, PeftFormat.MISS, 0);
        PeftExporter.render(t.adapters(), base, PeftFormat.LORA, 8); // bat's needs W: from the files
        t.close();
      }
    }
    assertFalse(base.materialized(), "a device trainer made the ND4J copy of the base");
    assertEquals(base.config().hiddenSize(), base.projection(0, Projection.Q_PROJ).inFeatures());
    base.layer(0); // computing on the CPU makes it
    assertTrue(base.materialized());
  }

  private static java.util.Map<String, float[]> floats(BaseModel m) {
    java.util.Map<String, float[]> out = new java.util.TreeMap<>();
    m.namedTensors().forEach((k, v) -> out.put(k, v.castTo(DataType.FLOAT).dup('c').data().asFloat()));
    return out;
  }
}
