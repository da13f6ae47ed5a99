package io.bonestream.engine.peft;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.SafeTensors;
import io.bonestream.engine.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes adapters as folders that Hugging Face PEFT (or, for {@code lora}, a serving engine) loads:
 * {@code adapter_config.json} + {@code adapter_model.safetensors}; or, for {@code merged}, a full
 * model folder. The safetensors metadata records the base model's fingerprint.
 */
public final class PeftExporter {
  public static final String FINGERPRINT_KEY = "bonestream.base_fingerprint";
  public static final String ADAPTER_CONFIG = "adapter_config.json";
  public static final String ADAPTER_WEIGHTS = "adapter_model.safetensors";

  private PeftExporter() {}

  /**
   * What was written. For a LoRA export of {@code bat} adapters, the relative Frobenius error
   * ‖ΔW − BA‖ / ‖ΔW‖ over all layers together, and the worst single layer's.
   */
  public record Result(Path dir, PeftFormat format, double relativeError, double worstLayerError) {}

  /** The two files of an adapter folder, in memory; the same adapter gives the same bytes. */
  public record AdapterFiles(String configJson, byte[] weights, double relativeError,
      double worstLayerError) {}

  public static Result export(AdapterSet adapters, BaseModel base, @Nullable Path baseDir,
      PeftFormat format, int loraRank, Path out) {
    createDirs(out);
    if (format == PeftFormat.MERGED) {
      exportMerged(adapters, base, baseDir, out);
      return new Result(out, format, 0, 0);
    }
    AdapterFiles files = render(adapters, base, format, loraRank);
    try {
      Path tmp = out.resolve(ADAPTER_WEIGHTS + ".tmp");
      Files.write(tmp, files.weights());
      Files.move(tmp, out.resolve(ADAPTER_WEIGHTS), StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
      Files.writeString(out.resolve(ADAPTER_CONFIG), files.configJson());
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + out + ": " + e.getMessage());
    }
    return new Result(out, format, files.relativeError(), files.worstLayerError());
  }

  /** An adapter folder's files ({@code miss}, {@code bone} or {@code lora}) in memory. */
  public static AdapterFiles render(AdapterSet adapters, BaseModel base, PeftFormat format, int loraRank) {
    AdapterConfig cfg = adapters.config();
    switch (format) {
      case MISS, BONE -> {
        if (cfg.method() == AdapterMethod.LORA) {
          throw new BonestreamException("a lora adapter cannot be written as " + format
              + "; use --format lora or merged");
        }
        if (cfg.method() == AdapterMethod.MINI && format != PeftFormat.MISS) {
          throw new BonestreamException("a mini adapter is MiSS only (PEFT's init_weights \"mini\"); use --format miss, "
              + "lora or merged");
        }
        String suffix = format == PeftFormat.MISS ? "miss_block" : "bone_block";
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        adapters.peftTensors().forEach((k, v) -> tensors.put(
            k.substring(0, k.length() - "miss_block".length()) + suffix, v));
        return new AdapterFiles(json(blockConfig(cfg, base, format)),
            SafeTensors.toBytesF32(tensors, metadata(base, cfg)), 0, 0);
      }
      case LORA -> {
        return renderLora(adapters, base, loraRank);
      }
      default -> throw new BonestreamException(format + " is not an adapter folder format");
    }
  }

  private static String json(ObjectNode node) {
    try {
      return Json.MAPPER.writeValueAsString(node) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static AdapterFiles renderLora(AdapterSet adapters, BaseModel base, int rank) {
    AdapterConfig cfg = adapters.config();
    if (cfg.method() == AdapterMethod.BAT && rank <= 0) {
      throw new BonestreamException("a bat adapter has no exact LoRA form: give --rank N for a "
          + "truncated-SVD LoRA (its error is reported), or use --format merged");
    }
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    double err = 0;
    double norm = 0;
    double worst = 0;
    int k = 0;
    for (Map.Entry<String, Adapter> e : adapters.byModulePath().entrySet()) {
      LoraConversion.Pair p = LoraConversion.convert(e.getValue(), rank);
      String key = AdapterSet.PEFT_PREFIX + e.getKey();
      tensors.put(key + ".lora_A.weight", p.a());
      tensors.put(key + ".lora_B.weight", p.b());
      err += p.errorNorm() * p.errorNorm();
      norm += p.deltaNorm() * p.deltaNorm();
      worst = Math.max(worst, p.deltaNorm() == 0 ? 0 : p.errorNorm() / p.deltaNorm());
      k = Math.max(k, p.rank());
    }
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("peft_type", "LORA");
    c.put("r", k);
    c.put("lora_alpha", k); // scale alpha / r = 1: the scale is folded into B
    c.put("lora_dropout", 0.0);
    targets(c, cfg);
    c.put("bias", "none");
    c.put("fan_in_fan_out", false);
    c.put("init_lora_weights", true);
    c.put("use_rslora", false);
    c.put("use_dora", false);
    c.put("task_type", "CAUSAL_LM");
    c.put("base_model_name_or_path", base.name());
    c.put("inference_mode", true);
    double rel = norm == 0 ? 0 : Math.sqrt(err / norm);
    return new AdapterFiles(json(c), SafeTensors.toBytesF32(tensors, metadata(base, cfg)), rel, worst);
  }

  /** A full model folder: the base's config and tokenizer files, merged weights (F32). */
  private static void exportMerged(AdapterSet adapters, BaseModel base, @Nullable Path baseDir, Path out) {
    if (baseDir == null) {
      throw new BonestreamException("a merged export needs the base model folder");
    }
    Map<String, INDArray> tensors = new LinkedHashMap<>(base.namedTensors());
    adapters.byModulePath().forEach((module, a) -> tensors.put(module + ".weight", a.mergedWeight()));
    SafeTensors.writeF32(out.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
    for (String f : List.of("config.json", "generation_config.json", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")) {
      Path src = baseDir.resolve(f);
      if (Files.isRegularFile(src)) {
        try {
          Files.copy(src, out.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
          throw new BonestreamException("cannot copy " + src + ": " + e.getMessage());
        }
      }
    }
    ObjectNode config = (ObjectNode) Json.readTree(out.resolve("config.json"));
    config.put("torch_dtype", "float32");
    Json.write(out.resolve("config.json"), config);
  }

  private static ObjectNode blockConfig(AdapterConfig cfg, BaseModel base, PeftFormat format) {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("peft_type", format == PeftFormat.MISS ? "MISS" : "BONE");
    c.put("r", cfg.r());
    if (cfg.method() == AdapterMethod.BAT) {
      c.put("init_weights", "bat");
    } else if (cfg.method() == AdapterMethod.MINI) {
      c.put("init_weights", "mini");
    } else {
      c.put("init_weights", true);
    }
    if (format == PeftFormat.MISS) {
      c.put("mini_r", cfg.miniR());
      c.put("miss_dropout", 0.0);
    }
    targets(c, cfg);
    c.put("bias", "none");
    c.put("task_type", "CAUSAL_LM");
    c.put("base_model_name_or_path", base.name());
    c.put("inference_mode", true);
    return c;
  }

  private static void targets(ObjectNode c, AdapterConfig cfg) {
    var t = c.putArray("target_modules");
    cfg.targetModuleNames().forEach(t::add);
  }

  private static Map<String, String> metadata(BaseModel base, AdapterConfig cfg) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("format", "pt");
    m.put(FINGERPRINT_KEY, base.fingerprint());
    m.put("bonestream.method", cfg.method().id());
    return m;
  }

  private static void createDirs(Path out) {
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new BonestreamException("cannot create " + out + ": " + e.getMessage());
    }
  }
}
