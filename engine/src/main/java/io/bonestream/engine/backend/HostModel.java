package io.bonestream.engine.backend;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.model.ModelConfig;
import io.bonestream.engine.model.SafeTensorsReader;
import io.bonestream.engine.util.Hashes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

/**
 * A Hugging Face model folder read without ND4J: the config, the stored tensors (read on demand,
 * memory-mapped) and the same weights fingerprint as {@link io.bonestream.engine.model.BaseModel}.
 * What a device backend uploads.
 */
public final class HostModel {
  private final String name;
  private final ModelConfig config;
  private final String fingerprint;
  private final Map<String, SafeTensorsReader.Entry> entries;

  private HostModel(String name, ModelConfig config, String fingerprint,
      Map<String, SafeTensorsReader.Entry> entries) {
    this.name = name;
    this.config = config;
    this.fingerprint = fingerprint;
    this.entries = entries;
  }

  /** Reads the config and the tensor headers, and fingerprints the stored bytes. */
  public static HostModel load(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new BonestreamException("model folder not found: " + dir);
    }
    ModelConfig config = ModelConfig.read(dir);
    Map<String, SafeTensorsReader.Entry> entries = SafeTensorsReader.modelEntries(dir);
    MessageDigest sha = Hashes.sha256();
    for (SafeTensorsReader.Entry e : entries.values()) {
      SafeTensorsReader.fingerprint(sha, e, SafeTensorsReader.rawBytes(e));
    }
    String name = dir.toAbsolutePath().normalize().getFileName().toString();
    return new HostModel(name, config, HexFormat.of().formatHex(sha.digest()), entries);
  }

  public String name() {
    return name;
  }

  public ModelConfig config() {
    return config;
  }

  public String fingerprint() {
    return fingerprint;
  }

  public boolean has(String tensor) {
    return entries.containsKey(tensor);
  }

  /** The stored dtype of a tensor, e.g. {@code BF16}. */
  public String dtype(String tensor) {
    return entry(tensor).dtype();
  }

  /** A tensor's values as float32, after checking its shape. */
  public float[] floats(String tensor, long... shape) {
    SafeTensorsReader.Entry e = entry(tensor);
    if (!Arrays.equals(e.shape(), shape)) {
      throw new BonestreamException("tensor " + tensor + " has shape " + Arrays.toString(e.shape())
          + ", config.json implies " + Arrays.toString(shape));
    }
    return SafeTensorsReader.readFloats(e);
  }

  private SafeTensorsReader.Entry entry(String tensor) {
    SafeTensorsReader.Entry e = entries.get(tensor);
    if (e == null) {
      throw new BonestreamException("model weights lack tensor " + tensor);
    }
    return e;
  }
}
