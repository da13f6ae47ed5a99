package io.bonestream.engine.peft;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.SafeTensors;
import io.bonestream.engine.util.Json;
import io.bonestream.engine.util.Rng;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Reads a PEFT adapter folder ({@code MISS}, legacy {@code BONE}, or {@code LORA}) onto a base
 * model, to evaluate it or to continue training it.
 */
public final class PeftImporter {
  private PeftImporter() {}

  /** The adapter's settings from {@code adapter_config.json}. */
  public static AdapterConfig readConfig(Path dir) {
    Path file = dir.resolve(PeftExporter.ADAPTER_CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("no " + PeftExporter.ADAPTER_CONFIG + " in adapter folder " + dir);
    }
    return config(Json.readTree(file), file.toString());
  }

  /** The adapter's settings from the text of an {@code adapter_config.json}. */
  public static AdapterConfig parseConfig(String json, String source) {
    try {
      return config(Json.MAPPER.readTree(json), source);
    } catch (java.io.IOException e) {
      throw new BonestreamException("invalid JSON in " + source);
    }
  }

  private static AdapterConfig config(JsonNode c, String file) {
    String type = c.path("peft_type").asText("").toUpperCase(java.util.Locale.ROOT);
    List<String> targets = new ArrayList<>();
    if (!c.path("target_modules").isArray()) {
      throw new BonestreamException(file + ": target_modules must be a list of module names");
    }
    c.path("target_modules").forEach(t -> targets.add(t.asText()));
    int r = c.path("r").asInt(0);
    AdapterConfig.Builder b = AdapterConfig.builder().r(r).targetModules(targets);
    switch (type) {
      case "MISS", "BONE" -> {
        JsonNode init = c.path("init_weights");
        if (init.isTextual() && init.asText().equals("bat")) {
          b.method(AdapterMethod.BAT);
        } else if (init.isTextual() && init.asText().equals("mini")) {
          b.method(AdapterMethod.MINI).miniR(c.path("mini_r").asInt(1));
        } else if (init.isBoolean() || init.isMissingNode()) {
          b.method(AdapterMethod.BONE);
        } else {
          throw new BonestreamException(file + ": init_weights " + init + " is not supported "
              + "(supported: true for bone, \"bat\" for bat, \"mini\" for mini)");
        }
      }
      case "LORA" -> {
        if (c.path("use_dora").asBoolean(false)) {
          throw new BonestreamException(file + ": DoRA adapters are not supported");
        }
        b.method(AdapterMethod.LORA).loraAlpha(c.path("lora_alpha").asDouble(8));
      }
      default -> throw new BonestreamException(file + ": peft_type '" + c.path("peft_type").asText()
          + "' is not supported (supported: MISS, BONE, LORA)");
    }
    return b.build();
  }

  /** Builds the adapters of {@code dir} on {@code base}; refuses an adapter made for another base. */
  public static AdapterSet read(Path dir, BaseModel base) {
    AdapterConfig cfg = readConfig(dir);
    Path weights = dir.resolve(PeftExporter.ADAPTER_WEIGHTS);
    if (!Files.isRegularFile(weights)) {
      throw new BonestreamException("no " + PeftExporter.ADAPTER_WEIGHTS + " in adapter folder " + dir);
    }
    return build(cfg, SafeTensors.readAll(weights, base.dataType()), SafeTensors.readMetadata(weights),
        base, dir.toString());
  }

  /** Builds an adapter from the two files of a PEFT folder held in memory. */
  public static AdapterSet read(String configJson, byte[] weights, BaseModel base, String source) {
    AdapterConfig cfg = parseConfig(configJson, source);
    SafeTensors.Contents c = SafeTensors.parse(weights, base.dataType(), source);
    return build(cfg, c.tensors(), c.metadata(), base, source);
  }

  private static AdapterSet build(AdapterConfig cfg, Map<String, INDArray> raw, Map<String, String> metadata,
      BaseModel base, String source) {
    String fingerprint = metadata.get(PeftExporter.FINGERPRINT_KEY);
    if (fingerprint != null && !fingerprint.equals(base.fingerprint())) {
      throw new BonestreamException("adapter " + source + " was trained on another base model than "
          + base.name() + " (weights fingerprint " + abbreviate(fingerprint) + " vs "
          + abbreviate(base.fingerprint()) + ")");
    }
    AdapterSet set = AdapterSet.create(base, cfg, new Rng(0));
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    raw.forEach((k, v) -> tensors.put(k.endsWith(".bone_block")
        ? k.substring(0, k.length() - "bone_block".length()) + "miss_block" : k, v));
    set.loadPeftTensors(tensors, source);
    return set;
  }

  private static String abbreviate(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }
}
