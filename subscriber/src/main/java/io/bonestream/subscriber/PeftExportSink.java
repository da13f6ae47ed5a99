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
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Writes every accepted version as folders that PEFT and LoRA servers load:
 *
 * <pre>
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/            the adapter as published (PEFT MiSS, or LoRA for lora)
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/lora/       PEFT LoRA: exact for bone and lora; for bat a truncated
 *                                      SVD (or, if asked, merged/: a full model folder)
 * &lt;dir&gt;/&lt;adapter&gt;@&lt;version&gt;/export.json  what was written, with the SVD error
 * &lt;dir&gt;/&lt;adapter&gt;  → &lt;adapter&gt;@&lt;version&gt;/lora   the alias a vLLM filesystem resolver reads
 * </pre>
 *
 * Each version folder appears atomically (written beside, then renamed); the alias is switched
 * atomically; versions beyond the last {@code keep} are removed.
 */
public final class PeftExportSink implements AdapterListener {
  private final Path dir;
  private final int keep;
  private final int batLoraRank;
  private final boolean batAsMerged;

  private PeftExportSink(Builder b) {
    this.dir = b.dir;
    this.keep = b.keep;
    this.batLoraRank = b.batLoraRank;
    this.batAsMerged = b.batAsMerged;
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

    private Builder(Path dir) {
      this.dir = dir;
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
      try {
        Files.createDirectories(dir);
      } catch (IOException e) {
        throw new BonestreamException("cannot create export folder " + dir + ": " + e.getMessage());
      }
      return new PeftExportSink(this);
    }
  }

  @Override
  public void onUpdate(AdapterUpdate update) {
    if (update instanceof AdapterUpdate.Accepted a) {
      write(a.adapter());
    }
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
    Path target = folder(v.adapterId(), v.version());
    if (Files.isDirectory(target)) {
      return; // immutable: a version is written once
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
      prune(v.adapterId());
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

  private void prune(String adapterId) throws IOException {
    List<Path> versions;
    try (Stream<Path> s = Files.list(dir)) {
      versions = s.filter(p -> p.getFileName().toString().startsWith(adapterId + "@"))
          .filter(p -> p.getFileName().toString().substring(adapterId.length() + 1).chars().allMatch(Character::isDigit))
          .sorted(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(adapterId.length() + 1))))
          .toList();
    }
    for (int i = 0; i < versions.size() - keep; i++) {
      FileTrees.delete(versions.get(i));
    }
  }
}
