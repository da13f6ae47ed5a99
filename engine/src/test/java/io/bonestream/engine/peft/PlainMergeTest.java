package io.bonestream.engine.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.peft.DeltaWeights;
import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The plain-Java ΔW and merged export (core, what the subscriber runs without ND4J) against the
 * engine's reference adapters, whose merges the golden and finite-difference tests check: for every
 * method, every projection's W + ΔW and the merged folder's weights equal {@code mergedWeight()}.
 */
@Timeout(120)
class PlainMergeTest {
  @TempDir Path tmp;

  @Test
  void everyMethodsDeltaAndMergedFolderMatchTheReferenceAdapters() {
    HostModel host = HostModel.load(TestFiles.stories260K());
    BaseModel base = BaseModel.of(host, DataType.FLOAT);
    for (AdapterConfig cfg : new AdapterConfig[] {
        AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build(),
        AdapterConfig.builder().method(AdapterMethod.BONE).r(3).build(), // 3 divides no dimension: remainder columns
        AdapterConfig.builder().method(AdapterMethod.MINI).r(4).miniR(4).build(),
        AdapterConfig.builder().method(AdapterMethod.LORA).r(4).loraAlpha(8).build()}) {
      AdapterSet set = AdapterSet.create(base, cfg, new Rng(3));
      set.flatParameters().assign(Nd4j.rand(DataType.FLOAT, set.flatParameters().shape()).subi(0.5).muli(0.1));
      PeftAdapter plain = PeftExporter.toPeft(set, base);
      Path merged = tmp.resolve(cfg.method().id());
      PeftExport.exportMerged(plain, host, merged);
      Map<String, SafeTensorsReader.Entry> written = SafeTensorsReader.readHeader(merged.resolve("model.safetensors"));
      Map<String, Adapter> byPath = set.byModulePath();
      for (AdapterLayout.Site s : plain.layout().sites()) {
        INDArray want = byPath.get(s.modulePath()).mergedWeight();
        INDArray w = base.layer(s.layer()).projection(s.projection()).weight();
        double[] delta = DeltaWeights.of(plain, s, base);
        float[] file = SafeTensorsReader.readFloats(written.get(s.modulePath() + ".weight"));
        double worstDelta = 0;
        double worstFile = 0;
        for (int o = 0; o < s.out(); o++) {
          for (int i = 0; i < s.in(); i++) {
            double ref = want.getDouble(o, i);
            worstDelta = Math.max(worstDelta, Math.abs(w.getDouble(o, i) + delta[o * s.in() + i] - ref));
            worstFile = Math.max(worstFile, Math.abs(file[o * s.in() + i] - ref));
          }
        }
        assertTrue(worstDelta < 1e-5, cfg.method() + " " + s.modulePath() + ": ΔW off by " + worstDelta);
        assertTrue(worstFile < 1e-5, cfg.method() + " " + s.modulePath() + ": merged file off by " + worstFile);
      }
      assertEquals(host.tensorNames(), written.keySet(), "the merged folder holds every base tensor");
    }
  }
}
