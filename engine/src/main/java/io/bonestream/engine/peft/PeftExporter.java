package io.bonestream.engine.peft;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.SafeTensors;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Writes trained adapters as PEFT folders: their tensors copied out of ND4J into a
 * {@link PeftAdapter}, then written by {@link PeftExport} (the file formats, the merge and the
 * LoRA conversion live there, without ND4J, shared with the subscriber).
 */
public final class PeftExporter {
  private PeftExporter() {}

  /** Writes {@code adapters} in {@code format}; a merged export reads the base's files from {@code baseDir}. */
  public static PeftExport.Result export(AdapterSet adapters, BaseModel base, @Nullable Path baseDir,
      PeftFormat format, int loraRank, Path out) {
    PeftAdapter adapter = toPeft(adapters, base);
    if (format == PeftFormat.MERGED) {
      if (baseDir == null) {
        throw new BonestreamException("a merged export needs the base model folder");
      }
      HostModel host = HostModel.load(baseDir);
      if (!host.fingerprint().equals(base.fingerprint())) {
        throw new BonestreamException("the model folder " + baseDir
            + " is not the base model the adapter was trained on");
      }
      return PeftExport.export(adapter, host, format, loraRank, out);
    }
    return PeftExport.export(adapter, base, format, loraRank, out);
  }

  /** An adapter folder's files ({@code miss}, {@code bone} or {@code lora}) in memory. */
  public static PeftExport.AdapterFiles render(AdapterSet adapters, BaseModel base, PeftFormat format, int loraRank) {
    return PeftExport.render(toPeft(adapters, base), base, format, loraRank);
  }

  /** The adapters' tensors as host arrays (a copy), checked against the layout. */
  public static PeftAdapter toPeft(AdapterSet adapters, BaseModel base) {
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    adapters.peftTensors().forEach((k, v) -> tensors.put(k, SafeTensors.host(v)));
    return PeftAdapter.of(adapters.config(), base.config(), tensors, "the trained adapters");
  }
}
