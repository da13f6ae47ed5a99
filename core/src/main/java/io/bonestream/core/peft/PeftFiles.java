package io.bonestream.core.peft;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The two files of a PEFT adapter folder: {@code adapter_config.json} (read into an
 * {@link AdapterConfig}, written for each {@link PeftFormat}) and {@code adapter_model.safetensors},
 * whose metadata records the base model's fingerprint.
 */
public final class PeftFiles {
  public static final String ADAPTER_CONFIG = "adapter_config.json";
  public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";
  public static final String FINGERPRINT_KEY = "bonestream.base_fingerprint";

  private PeftFiles() {}

  /** The adapter's settings from a folder's {@code adapter_config.json}. */
  public static AdapterConfig readConfig(Path dir) {
    Path file = dir.resolve(ADAPTER_CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("no " + ADAPTER_CONFIG + " in adapter folder " + dir);
    }
    return config(Json.readTree(file), file.toString());
  }

  /** The adapter's settings from the text of an {@code adapter_config.json}. */
  public static AdapterConfig parseConfig(String json, String source) {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(json);
    } catch (IOException e) {
      throw new BonestreamException("invalid JSON in " + source);
    }
    if (node == null || !node.isObject()) {
      throw new BonestreamException(source + ": " + ADAPTER_CONFIG + " is not a JSON object");
    }
    return config(node, source);
  }

  private static AdapterConfig config(JsonNode c, String file) {
    String type = c.path("peft_type").asText("").toUpperCase(Locale.ROOT);
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

  /** {@code adapter_config.json} of a block adapter (bat, bone, mini) as {@code miss} or {@code bone}. */
  static String blockConfigJson(AdapterConfig cfg, String baseName, PeftFormat format) {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("peft_type", format == PeftFormat.MISS ? "MISS" : "BONE");
    c.put("r", cfg.r());
    switch (cfg.method()) {
      case BAT -> c.put("init_weights", "bat");
      case MINI -> c.put("init_weights", "mini");
      default -> c.put("init_weights", true);
    }
    if (format == PeftFormat.MISS) {
      c.put("mini_r", cfg.miniR());
      c.put("miss_dropout", 0.0);
    }
    targets(c, cfg);
    c.put("bias", "none");
    c.put("task_type", "CAUSAL_LM");
    c.put("base_model_name_or_path", baseName);
    c.put("inference_mode", true);
    return json(c);
  }

  /** {@code adapter_config.json} of a LoRA of rank k with scale 1 (alpha = k: the scale is in B). */
  static String loraConfigJson(AdapterConfig cfg, String baseName, int k) {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("peft_type", "LORA");
    c.put("r", k);
    c.put("lora_alpha", k);
    c.put("lora_dropout", 0.0);
    targets(c, cfg);
    c.put("bias", "none");
    c.put("fan_in_fan_out", false);
    c.put("init_lora_weights", true);
    c.put("use_rslora", false);
    c.put("use_dora", false);
    c.put("task_type", "CAUSAL_LM");
    c.put("base_model_name_or_path", baseName);
    c.put("inference_mode", true);
    return json(c);
  }

  /** The safetensors metadata of an adapter file: the base's fingerprint and the method. */
  static Map<String, String> metadata(String baseFingerprint, AdapterConfig cfg) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("format", "pt");
    m.put(FINGERPRINT_KEY, baseFingerprint);
    m.put("bonestream.method", cfg.method().id());
    return m;
  }

  private static void targets(ObjectNode c, AdapterConfig cfg) {
    var t = c.putArray("target_modules");
    cfg.targetModuleNames().forEach(t::add);
  }

  private static String json(ObjectNode node) {
    try {
      return Json.MAPPER.writeValueAsString(node) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
