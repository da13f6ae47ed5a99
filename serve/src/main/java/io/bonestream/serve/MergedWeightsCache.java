package io.bonestream.serve;

import io.bonestream.engine.model.BaseModel;
import io.bonestream.subscriber.AdapterVersion;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The base model with an adapter version merged in, kept for the versions served most recently
 * within a byte budget (the merged copies of the targeted weights; the rest is shared with the base
 * model). Without a bound, each {@code adapter@version} a client names would keep its own copy.
 * A version whose copy alone is over the budget is merged for its request and not kept.
 */
final class MergedWeightsCache {
  private final long maxBytes;
  private final BaseModel base;
  private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
  private long bytes;

  private record Entry(BaseModel model, long bytes) { }

  MergedWeightsCache(long maxBytes, BaseModel base) {
    this.maxBytes = maxBytes;
    this.base = base;
  }

  BaseModel get(AdapterVersion v) {
    synchronized (this) {
      Entry e = entries.get(v.name());
      if (e != null) {
        return e.model();
      }
    }
    Map<String, INDArray> merged = AdapterModels.adapters(v, base).mergedWeights();
    long size = 0;
    for (INDArray a : merged.values()) {
      size += a.length() * a.dataType().width();
    }
    BaseModel model = base.withProjectionWeights(merged);
    synchronized (this) {
      if (size <= maxBytes && !entries.containsKey(v.name())) {
        entries.put(v.name(), new Entry(model, size));
        bytes += size;
        for (Iterator<Entry> it = entries.values().iterator(); bytes > maxBytes && it.hasNext(); ) {
          bytes -= it.next().bytes();
          it.remove();
        }
      }
    }
    return model;
  }

  /** Bytes held now. */
  synchronized long bytes() {
    return bytes;
  }
}
