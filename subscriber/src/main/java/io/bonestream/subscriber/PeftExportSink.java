package io.bonestream.subscriber;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.core.util.FileTrees;
import io.bonestream.core.util.Json;
import io.bonestream.schemas.AdapterIds;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;

/**
 * Writes every accepted version as folders that PEFT and LoRA servers load. The default layout:
 *
 * <pre>
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/            the adapter as published (PEFT MiSS, or LoRA for lora)
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/lora/       PEFT LoRA: exact for bone and lora; for bat a truncated
 *                                      SVD (or, if asked, merged/: a full model folder)
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/export.json  what was written, with the SVD error
 * &lt;dir&gt;/&lt;adapter&gt;  → &lt;adapter&gt;@&lt;version&gt;/lora   the alias a vLLM filesystem resolver reads
 * </pre>
 *
 * With {@link Builder#vllm(String, int)} every version folder is itself a LoRA that vLLM loads
 * (vLLM loads {@code peft_type: LORA} only), so each version resolves under its immutable name:
 *
 * <pre>
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/adapter_config.json         LoRA: base_model_name_or_path = vLLM's
 *                                                  --model value, r ≤ max rank
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/adapter_model.safetensors   lora_A / lora_B, PEFT key names
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/published/                 the adapter as published (PEFT MiSS)
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/export.json
 * &lt;dir&gt;/&lt;adapter&gt;  → &lt;adapter&gt;@&lt;version&gt;                 the alias, at the newest version
 * </pre>
 *
 * bone, mini and lora adapters are exact there at rank r (which must not pass the max rank); bat
 * adapters are a truncated SVD at the max rank (or {@link Builder#batLoraRank}). docs/vllm.md
 * tells how vLLM reads this folder.
 *
 * <p>Each version folder appears atomically (written beside, then renamed); the alias is switched
 * atomically; versions beyond the last {@code keep} are removed.
 */
public final class PeftExportSink implements AdapterListener {
  private final Path dir;
  private final int keep;
  private final int batLoraRank;
  private final boolean batAsMerged;
  private final boolean vllm;
  private final @Nullable String vllmBaseModelName;
  private final int maxLoraRank;

  /**
   * The values vLLM accepts for {@code --max-lora-rank} ({@code MaxLoRARanks} in vLLM's
   * vllm/config/lora.py, read on its main branch; 16 is vLLM's default).
   */
  public static final List<Integer> VLLM_MAX_LORA_RANKS = List.of(1, 8, 16, 32, 64, 128, 256, 320, 512);

  /** vLLM's default {@code --max-lora-rank}. */
  public static final int VLLM_DEFAULT_MAX_LORA_RANK = 16;

  /** The subfolder of a version that keeps the adapter as published, in the vLLM layout. */
  public static final String PUBLISHED = "published";

  private PeftExportSink(Builder b) {
    this.dir = b.dir;
    this.keep = b.keep;
    this.batLoraRank = b.batLoraRank;
    this.batAsMerged = b.batAsMerged;
    this.vllm = b.vllm;
    this.vllmBaseModelName = b.vllmBaseModelName;
    this.maxLoraRank = b.maxLoraRank;
  }

  public static Builder builder(Path dir) {
    return new Builder(dir);
  }

  /** Settings: keep 3 versions; bat adapters as SVD-LoRA of rank 4·r unless told otherwise. */
  public static final class Builder {
    private final Path dir;
    private int keep = 3;
    private int batLoraRank;
    private boolean batAsMerged;
    private boolean vllm;
    private @Nullable String vllmBaseModelName;
    private int maxLoraRank;

    private Builder(Path dir) {
      this.dir = dir;
    }

    /**
     * The vLLM layout: each version folder is a LoRA whose {@code base_model_name_or_path} is
     * {@code baseModelName} (null: the base model folder's own name), with rank at most
     * {@code maxLoraRank} (vLLM's {@code --max-lora-rank}: one of {@link #VLLM_MAX_LORA_RANKS}).
     * bat adapters become a truncated-SVD LoRA of rank {@code maxLoraRank} unless
     * {@link #batLoraRank} asks for less. vLLM's filesystem resolver loads a folder only if its
     * {@code base_model_name_or_path} equals vLLM's {@code --model} value exactly (its
     * {@code model_config.model}, e.g. {@code /models/stories260K}; not {@code --served-model-name}).
     */
    public Builder vllm(@Nullable String baseModelName, int maxLoraRank) {
      this.vllm = true;
      this.vllmBaseModelName = baseModelName;
      this.maxLoraRank = maxLoraRank;
      return this;
    }

    public Builder keep(int versions) {
      this.keep = versions;
      return this;
    }

    /** The rank of a bat adapter's truncated-SVD LoRA (0: 4·r). */
    public Builder batLoraRank(int rank) {
      this.batLoraRank = rank;
      return this;
    }

    /** Export bat adapters as full merged models instead (the base model's folder gives the rest). */
    public Builder batAsMergedModel() {
      this.batAsMerged = true;
      return this;
    }

    public PeftExportSink build() {
      if (keep < 1 || batLoraRank < 0) {
        throw new BonestreamException("export sink: keep ≥ 1 and rank ≥ 0");
      }
      if (vllm) {
        checkMaxLoraRank(maxLoraRank);
        if (vllmBaseModelName != null && (vllmBaseModelName.isBlank() || !vllmBaseModelName.strip().equals(vllmBaseModelName))) {
          throw new BonestreamException("export sink: the base model name vLLM serves must be a non-blank name "
              + "without surrounding spaces, not '" + vllmBaseModelName + "'");
        }
        if (batAsMerged) {
          throw new BonestreamException("export sink: the vLLM layout writes LoRA folders; it cannot write bat "
              + "adapters as merged models");
        }
        if (batLoraRank > maxLoraRank) {
          throw new BonestreamException("export sink: the bat LoRA rank " + batLoraRank
              + " is above vLLM's max LoRA rank " + maxLoraRank + ", which vLLM would refuse");
        }
      }
      try {
        Files.createDirectories(dir);
      } catch (IOException e) {
        throw new BonestreamException("cannot create export folder " + dir + ": " + e.getMessage());
      }
      return new PeftExportSink(this);
    }
  }

  /** Refuses a value vLLM would not start with as {@code --max-lora-rank}. */
  static void checkMaxLoraRank(int rank) {
    if (!VLLM_MAX_LORA_RANKS.contains(rank)) {
      throw new BonestreamException("vLLM's max LoRA rank is one of " + VLLM_MAX_LORA_RANKS + " (its --max-lora-rank), "
          + "not " + rank);
    }
  }

  @Override
  public void onUpdate(AdapterUpdate update) {
    if (update instanceof AdapterUpdate.Accepted a) {
      write(a.adapter());
    }
  }

  /** The export folder. */
  public Path dir() {
    return dir;
  }

  /** Whether the version folders are vLLM LoRAs ({@link Builder#vllm}). */
  public boolean vllmLayout() {
    return vllm;
  }

  int keep() {
    return keep;
  }

  /** The folder of a version. */
  public Path folder(String adapterId, long version) {
    return dir.resolve(checked(adapterId) + "@" + version);
  }

  /** The alias folder of an adapter (a link to its latest version's LoRA form). */
  public Path alias(String adapterId) {
    return dir.resolve(checked(adapterId));
  }

  /** An adapter id fit to be a file name in the export folder: nothing else becomes a path. */
  private static String checked(String adapterId) {
    if (!AdapterIds.isValid(adapterId)) {
      throw new IllegalArgumentException("not an adapter id: '" + adapterId + "'");
    }
    return adapterId;
  }

  void write(AdapterVersion v) {
    if (writeVersion(v)) {
      try {
        prune(v.adapterId(), Set.of());
      } catch (IOException e) {
        throw new UncheckedIOException("cannot prune old versions of " + v.adapterId() + " in " + dir, e);
      }
    }
  }

  /**
   * Writes a version's folder and points the alias at it, without removing older versions;
   * false if the folder was there already (a version is written once).
   */
  boolean writeVersion(AdapterVersion v) {
    Path target = folder(v.adapterId(), v.version());
    if (Files.isDirectory(target)) {
      return false; // immutable: a version is written once
    }
    if (vllm) {
      return writeVllm(v, target);
    }
    Path tmp = dir.resolve("." + v.name() + "." + UUID.randomUUID() + ".tmp");
    try {
      Files.createDirectories(tmp);
      Files.writeString(tmp.resolve(PeftFiles.ADAPTER_CONFIG), v.adapterConfigJson());
      Files.write(tmp.resolve(PeftFiles.ADAPTER_WEIGHTS), v.adapterWeights());
      ObjectNode info = Json.MAPPER.createObjectNode();
      info.put("adapter", v.adapterId());
      info.put("version", v.version());
      info.put("method", v.method());
      info.put("created_at", v.createdAt().toString());
      String served;
      if (v.method().equals("bat") && batAsMerged) {
        PeftExport.exportMerged(v.adapter(), v.base(), tmp.resolve("merged"));
        info.putObject("merged").put("folder", "merged");
        served = "merged";
      } else {
        int rank = v.method().equals("bat") ? (batLoraRank > 0 ? batLoraRank : 4 * v.r()) : v.r();
        PeftExport.Result r = PeftExport.export(v.adapter(), v.base(), PeftFormat.LORA, rank, tmp.resolve("lora"));
        ObjectNode lora = info.putObject("lora");
        lora.put("folder", "lora");
        lora.put("rank", rank);
        lora.put("exact", !v.method().equals("bat"));
        lora.put("relative_error", r.relativeError());
        lora.put("worst_layer_relative_error", r.worstLayerError());
        served = "lora";
      }
      Json.write(tmp.resolve("export.json"), info);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      point(v.adapterId(), v.name() + "/" + served);
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot export " + v.name() + " to " + dir, e);
    }
  }

  /** The rank of a version's LoRA in the vLLM layout; refuses one vLLM would not load. */
  int vllmRank(AdapterVersion v) {
    if (v.method().equals("bat")) {
      return batLoraRank > 0 ? batLoraRank : maxLoraRank;
    }
    if (v.r() > maxLoraRank) {
      throw new BonestreamException("cannot export " + v.name() + " for vLLM: its exact LoRA has rank " + v.r()
          + ", above vLLM's max LoRA rank " + maxLoraRank + "; start vLLM with a --max-lora-rank of at least " + v.r()
          + " and export with that");
    }
    return v.r();
  }

  private boolean writeVllm(AdapterVersion v, Path target) {
    int rank = vllmRank(v);
    String baseName = vllmBaseModelName != null ? vllmBaseModelName : v.base().name();
    Path tmp = dir.resolve("." + v.name() + "." + UUID.randomUUID() + ".tmp");
    try {
      Path published = tmp.resolve(PUBLISHED);
      Files.createDirectories(published);
      Files.writeString(published.resolve(PeftFiles.ADAPTER_CONFIG), v.adapterConfigJson());
      Files.write(published.resolve(PeftFiles.ADAPTER_WEIGHTS), v.adapterWeights());
      PeftExport.AdapterFiles lora = PeftExport.render(v.adapter(), v.base(), PeftFormat.LORA, rank);
      ObjectNode config = (ObjectNode) Json.MAPPER.readTree(lora.configJson());
      config.put("base_model_name_or_path", baseName);
      Files.writeString(tmp.resolve(PeftFiles.ADAPTER_CONFIG), Json.MAPPER.writeValueAsString(config) + "\n");
      Files.write(tmp.resolve(PeftFiles.ADAPTER_WEIGHTS), lora.weights());
      ObjectNode info = Json.MAPPER.createObjectNode();
      info.put("adapter", v.adapterId());
      info.put("version", v.version());
      info.put("method", v.method());
      info.put("created_at", v.createdAt().toString());
      info.put("layout", "vllm");
      info.put("published", PUBLISHED);
      ObjectNode l = info.putObject("lora");
      l.put("folder", ".");
      l.put("rank", config.path("r").asInt());
      l.put("max_lora_rank", maxLoraRank);
      l.put("base_model_name_or_path", baseName);
      l.put("exact", !v.method().equals("bat"));
      l.put("relative_error", lora.relativeError());
      l.put("worst_layer_relative_error", lora.worstLayerError());
      Json.write(tmp.resolve("export.json"), info);
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      point(v.adapterId(), v.name());
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot export " + v.name() + " to " + dir, e);
    }
  }

  /** Switches the alias link atomically. */
  private void point(String adapterId, String relativeTarget) throws IOException {
    Path link = alias(adapterId);
    Path tmp = dir.resolve("." + adapterId + "." + UUID.randomUUID() + ".link");
    Files.createSymbolicLink(tmp, Path.of(relativeTarget));
    Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /** Removes the folders of versions beyond the last {@code keep}, except those in {@code spared}. */
  void prune(String adapterId, Set<Long> spared) throws IOException {
    List<Path> versions;
    try (Stream<Path> s = Files.list(dir)) {
      versions = s.filter(p -> p.getFileName().toString().startsWith(adapterId + "@"))
          .filter(p -> p.getFileName().toString().substring(adapterId.length() + 1).chars().allMatch(Character::isDigit))
          .sorted(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(adapterId.length() + 1))))
          .toList();
    }
    for (int i = 0; i < versions.size() - keep; i++) {
      Path p = versions.get(i);
      if (!spared.contains(Long.parseLong(p.getFileName().toString().substring(adapterId.length() + 1)))) {
        FileTrees.delete(p);
      }
    }
  }
}
