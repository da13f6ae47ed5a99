package io.bonestream.core.model;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Hashes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;

/**
 * A Hugging Face model folder read without ND4J: the config, the stored tensors (read on demand,
 * memory-mapped) and the weights fingerprint. The one host form of a model: device backends
 * upload from it, the subscriber checks adapters against it, and the engine's ND4J model is made
 * from it.
 *
 * <p>The fingerprint is the SHA-256 of every stored tensor, in name order, of: the UTF-8 name, a
 * zero byte, the dtype, a zero byte, the shape as comma-separated decimals, a zero byte, and the
 * raw stored bytes. It does not depend on how the checkpoint is sharded.
 */
public final class HostModel implements BaseWeights {
  private final Path dir;
  private final String name;
  private final ModelConfig config;
  private final String fingerprint;
  private final Map<String, SafeTensorsReader.Entry> entries;

  private HostModel(Path dir, String name, ModelConfig config, String fingerprint,
      Map<String, SafeTensorsReader.Entry> entries) {
    this.dir = dir;
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
    return new HostModel(dir, name, config, HexFormat.of().formatHex(sha.digest()), entries);
  }

  /** The model folder (its config and tokenizer files live there too). */
  public Path dir() {
    return dir;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public ModelConfig config() {
    return config;
  }

  @Override
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

  /** The stored tensors' names, sorted. */
  public java.util.SortedSet<String> tensorNames() {
    return java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(entries.keySet()));
  }

  /** A stored tensor's shape. */
  public long[] shape(String tensor) {
    return entry(tensor).shape().clone();
  }

  /** A stored tensor's raw little-endian bytes (memory-mapped) in its stored dtype. */
  public java.nio.ByteBuffer rawBytes(String tensor) {
    return SafeTensorsReader.rawBytes(entry(tensor));
  }

  /** A tensor's values as float32, whatever its shape. */
  public float[] floats(String tensor) {
    return SafeTensorsReader.readFloats(entry(tensor));
  }

  @Override
  public float[] projectionWeight(String modulePath) {
    return floats(modulePath + ".weight");
  }

  private SafeTensorsReader.Entry entry(String tensor) {
    SafeTensorsReader.Entry e = entries.get(tensor);
    if (e == null) {
      throw new BonestreamException("model weights lack tensor " + tensor);
    }
    return e;
  }
}
