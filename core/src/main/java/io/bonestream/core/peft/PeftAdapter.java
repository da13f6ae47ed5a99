package io.bonestream.core.peft;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.BaseWeights;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.safetensors.SafeTensorsReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A PEFT adapter in plain Java arrays, checked against a base model: every tensor its
 * {@link AdapterLayout} names is there with its shape, nothing else is, and it was made for this
 * base (the fingerprint in the file's metadata, when present). Keys are canonical:
 * {@code base_model.model.<module path>.<suffix>}, a legacy {@code .bone_block} read as
 * {@code .miss_block}.
 */
public final class PeftAdapter {
  private final AdapterConfig config;
  private final AdapterLayout layout;
  private final Map<String, HostTensor> tensors;

  private PeftAdapter(AdapterConfig config, AdapterLayout layout, Map<String, HostTensor> tensors) {
    this.config = config;
    this.layout = layout;
    this.tensors = Collections.unmodifiableMap(tensors);
  }

  /**
   * The adapter of {@code config} made of {@code tensors} (canonical keys) on a model of shape
   * {@code model}; refuses a missing, extra or misshapen tensor.
   */
  public static PeftAdapter of(AdapterConfig config, ModelConfig model, Map<String, HostTensor> tensors,
      String source) {
    AdapterLayout layout = AdapterLayout.of(model, config);
    Map<String, HostTensor> ordered = new LinkedHashMap<>();
    for (AdapterLayout.Site s : layout.sites()) {
      for (AdapterLayout.Tensor t : s.tensors()) {
        String key = key(s, t.suffix());
        HostTensor v = tensors.get(key);
        if (v == null) {
          throw new BonestreamException("adapter tensor " + key + " missing from " + source);
        }
        if (!Arrays.equals(v.shape(), t.shape())) {
          throw new BonestreamException("adapter tensor " + key + " in " + source + " has shape "
              + Arrays.toString(v.shape()) + ", expected " + Arrays.toString(t.shape()));
        }
        ordered.put(key, v);
      }
    }
    for (String key : tensors.keySet()) {
      if (!ordered.containsKey(key)) {
        throw new BonestreamException("adapter tensor " + key + " in " + source
            + " matches no " + config.method() + " target of this model");
      }
    }
    return new PeftAdapter(config, layout, ordered);
  }

  /** Reads the two files of an adapter folder held in memory, for {@code base}. */
  public static PeftAdapter read(String configJson, byte[] weights, BaseWeights base, String source) {
    AdapterConfig cfg = PeftFiles.parseConfig(configJson, source);
    SafeTensorsReader.Contents c = SafeTensorsReader.parse(weights, source);
    checkBase(c.metadata().get(PeftFiles.FINGERPRINT_KEY), base, source);
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    c.tensors().forEach((k, v) -> tensors.put(canonical(k), v.toHost()));
    return of(cfg, base.config(), tensors, source);
  }

  /** Reads an adapter folder for {@code base}. */
  public static PeftAdapter read(Path dir, BaseWeights base) {
    Path weights = dir.resolve(PeftFiles.ADAPTER_WEIGHTS);
    AdapterConfig cfg = PeftFiles.readConfig(dir);
    if (!Files.isRegularFile(weights)) {
      throw new BonestreamException("no " + PeftFiles.ADAPTER_WEIGHTS + " in adapter folder " + dir);
    }
    checkBase(SafeTensorsReader.readMetadata(weights).get(PeftFiles.FINGERPRINT_KEY), base, dir.toString());
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    SafeTensorsReader.readHeader(weights).forEach((k, e) ->
        tensors.put(canonical(k), HostTensor.of(SafeTensorsReader.readFloats(e), e.shape())));
    return of(cfg, base.config(), tensors, dir.toString());
  }

  private static void checkBase(String fingerprint, BaseWeights base, String source) {
    if (fingerprint != null && !fingerprint.equals(base.fingerprint())) {
      throw new BonestreamException("adapter " + source + " was trained on another base model than "
          + base.name() + " (weights fingerprint " + abbreviate(fingerprint) + " vs "
          + abbreviate(base.fingerprint()) + ")");
    }
  }

  private static String canonical(String key) {
    return key.endsWith(".bone_block") ? key.substring(0, key.length() - "bone_block".length()) + "miss_block" : key;
  }

  /** The PEFT key of one tensor of a site, e.g. {@code base_model.model.model.layers.0.self_attn.q_proj.miss_block}. */
  public static String key(AdapterLayout.Site site, String suffix) {
    return AdapterLayout.PEFT_PREFIX + site.modulePath() + "." + suffix;
  }

  public AdapterConfig config() {
    return config;
  }

  public AdapterLayout layout() {
    return layout;
  }

  /** Every tensor by canonical key, in layout order. */
  public Map<String, HostTensor> tensors() {
    return tensors;
  }

  /** One tensor of a site, e.g. {@code miss_block} or {@code lora_A.weight}. */
  public HostTensor tensor(AdapterLayout.Site site, String suffix) {
    return tensors.get(key(site, suffix));
  }

  /** The first tensor holding a NaN or an infinity, if any. */
  public Optional<String> firstNonFinite() {
    for (Map.Entry<String, HostTensor> e : tensors.entrySet()) {
      for (float v : e.getValue().toFloats()) {
        if (!Float.isFinite(v)) {
          return Optional.of(e.getKey());
        }
      }
    }
    return Optional.empty();
  }

  private static String abbreviate(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }
}
