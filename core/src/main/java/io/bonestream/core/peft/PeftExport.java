package io.bonestream.core.peft;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.BaseWeights;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.safetensors.SafeTensorsWriter;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Writes a {@link PeftAdapter} as a folder that Hugging Face PEFT (or, for {@code lora}, a serving
 * engine) loads: {@code adapter_config.json} + {@code adapter_model.safetensors}; or, for
 * {@code merged}, a full model folder with the adapter folded into the weights.
 */
public final class PeftExport {
  private PeftExport() {}

  /**
   * What was written. For a LoRA export of {@code bat} adapters, the relative Frobenius error
   * ‖ΔW − BA‖ / ‖ΔW‖ over all layers together, and the worst single layer's.
   */
  public record Result(Path dir, PeftFormat format, double relativeError, double worstLayerError) {}

  /** The two files of an adapter folder, in memory; the same adapter gives the same bytes. */
  public record AdapterFiles(String configJson, byte[] weights, double relativeError, double worstLayerError) {}

  /** Writes {@code adapter} on {@code base} in {@code format}; {@code loraRank} is for bat as LoRA. */
  public static Result export(PeftAdapter adapter, BaseWeights base, PeftFormat format, int loraRank, Path out) {
    createDirs(out);
    if (format == PeftFormat.MERGED) {
      if (!(base instanceof HostModel host)) {
        throw new BonestreamException("a merged export needs the base model folder");
      }
      exportMerged(adapter, host, out);
      return new Result(out, format, 0, 0);
    }
    AdapterFiles files = render(adapter, base, format, loraRank);
    try {
      Path tmp = out.resolve(PeftFiles.ADAPTER_WEIGHTS + ".tmp");
      Files.write(tmp, files.weights());
      Files.move(tmp, out.resolve(PeftFiles.ADAPTER_WEIGHTS), StandardCopyOption.REPLACE_EXISTING,
          StandardCopyOption.ATOMIC_MOVE);
      Files.writeString(out.resolve(PeftFiles.ADAPTER_CONFIG), files.configJson());
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + out + ": " + e.getMessage());
    }
    return new Result(out, format, files.relativeError(), files.worstLayerError());
  }

  /** An adapter folder's files ({@code miss}, {@code bone} or {@code lora}) in memory. */
  public static AdapterFiles render(PeftAdapter adapter, BaseWeights base, PeftFormat format, int loraRank) {
    AdapterMethod method = adapter.config().method();
    switch (format) {
      case MISS, BONE -> {
        if (method == AdapterMethod.LORA) {
          throw new BonestreamException("a lora adapter cannot be written as " + format
              + "; use --format lora or merged");
        }
        if (method == AdapterMethod.MINI && format != PeftFormat.MISS) {
          throw new BonestreamException("a mini adapter is MiSS only (PEFT's init_weights \"mini\"); use --format miss, "
              + "lora or merged");
        }
        String suffix = format == PeftFormat.MISS ? "miss_block" : "bone_block";
        Map<String, HostTensor> tensors = new LinkedHashMap<>();
        adapter.tensors().forEach((k, v) -> tensors.put(
            k.substring(0, k.length() - "miss_block".length()) + suffix, v));
        return new AdapterFiles(PeftFiles.blockConfigJson(adapter.config(), base.name(), format),
            SafeTensorsWriter.toBytesF32(tensors, PeftFiles.metadata(base.fingerprint(), adapter.config())), 0, 0);
      }
      case LORA -> {
        return renderLora(adapter, base, loraRank);
      }
      default -> throw new BonestreamException(format + " is not an adapter folder format");
    }
  }

  private static AdapterFiles renderLora(PeftAdapter adapter, BaseWeights base, int rank) {
    if (adapter.config().method() == AdapterMethod.BAT && rank <= 0) {
      throw new BonestreamException("a bat adapter has no exact LoRA form: give --rank N for a "
          + "truncated-SVD LoRA (its error is reported), or use --format merged");
    }
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    double err = 0;
    double norm = 0;
    double worst = 0;
    int k = 0;
    for (AdapterLayout.Site s : adapter.layout().sites()) {
      LoraFactors.Pair p = LoraFactors.of(adapter, s, base, rank);
      tensors.put(PeftAdapter.key(s, "lora_A.weight"), p.a());
      tensors.put(PeftAdapter.key(s, "lora_B.weight"), p.b());
      err += p.errorNorm() * p.errorNorm();
      norm += p.deltaNorm() * p.deltaNorm();
      worst = Math.max(worst, p.deltaNorm() == 0 ? 0 : p.errorNorm() / p.deltaNorm());
      k = Math.max(k, p.rank());
    }
    double rel = norm == 0 ? 0 : Math.sqrt(err / norm);
    return new AdapterFiles(PeftFiles.loraConfigJson(adapter.config(), base.name(), k),
        SafeTensorsWriter.toBytesF32(tensors, PeftFiles.metadata(base.fingerprint(), adapter.config())), rel, worst);
  }

  /**
   * A full model folder: the base's config and tokenizer files, and its weights as F32 with each
   * targeted projection's W replaced by W + ΔW. Written one tensor at a time.
   */
  public static void exportMerged(PeftAdapter adapter, HostModel base, Path out) {
    createDirs(out);
    Map<String, AdapterLayout.Site> targets = new HashMap<>();
    for (AdapterLayout.Site s : adapter.layout().sites()) {
      targets.put(s.modulePath() + ".weight", s);
    }
    SortedMap<String, long[]> shapes = new TreeMap<>();
    for (String name : base.tensorNames()) {
      shapes.put(name, base.shape(name));
    }
    SafeTensorsWriter.writeF32(out.resolve("model.safetensors"), shapes, Map.of("format", "pt"), name -> {
      float[] w = base.floats(name);
      AdapterLayout.Site s = targets.get(name);
      if (s != null) {
        double[] d = DeltaWeights.of(adapter, s, base);
        for (int i = 0; i < w.length; i++) {
          w[i] = (float) (w[i] + d[i]);
        }
      }
      return w;
    });
    for (String f : List.of("config.json", "generation_config.json", "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")) {
      Path src = base.dir().resolve(f);
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

  private static void createDirs(Path out) {
    try {
      Files.createDirectories(out);
    } catch (IOException e) {
      throw new BonestreamException("cannot create " + out + ": " + e.getMessage());
    }
  }
}
