package io.bonestream.engine.peft;

import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reads a PEFT adapter folder ({@code MISS}, legacy {@code BONE}, or {@code LORA}) onto the ND4J
 * model, to evaluate it or to continue training it. Parsing and checking are {@link PeftAdapter}'s.
 */
public final class PeftImporter {
  private PeftImporter() {}

  /** Builds the adapters of {@code dir} on {@code base}; refuses an adapter made for another base. */
  public static AdapterSet read(Path dir, BaseModel base) {
    return build(PeftAdapter.read(dir, base), base, dir.toString());
  }

  /** Builds an adapter from the two files of a PEFT folder held in memory. */
  public static AdapterSet read(String configJson, byte[] weights, BaseModel base, String source) {
    return build(PeftAdapter.read(configJson, weights, base, source), base, source);
  }

  /** The ND4J adapters holding {@code adapter}'s values. */
  public static AdapterSet build(PeftAdapter adapter, BaseModel base, String source) {
    AdapterSet set = AdapterSet.create(base, adapter.config(), new Rng(0));
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    adapter.tensors().forEach((k, v) -> tensors.put(k, Nd4j.create(v.toFloats(), v.shape(), 'c')));
    set.loadPeftTensors(tensors, source);
    return set;
  }
}
