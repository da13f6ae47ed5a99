package io.bonestream.engine.peft;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.core.util.Json;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.SafeTensors;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.model.Transformer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Adapter folders written then read, and the LoRA / merged exports against the adapter itself. */
class PeftRoundTripTest {
  private static BaseModel base;
  private static final TokenBatch BATCH = TokenBatch.ofIds(new int[] {1, 403, 407, 261, 378, 432, 383, 286});

  @BeforeAll
  static void load() {
    base = BaseModel.load(TestFiles.stories260K());
  }

  private static AdapterSet trainedLooking(AdapterMethod m, int r) {
    AdapterSet s = AdapterSet.create(base, AdapterConfig.builder().method(m).r(r).build(), new Rng(1));
    Nd4j.getRandom().setSeed(r);
    for (INDArray p : s.parameters()) {
      p.assign(Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.05));
    }
    return s;
  }

  private static double maxAbsDiff(INDArray a, INDArray b) {
    return a.sub(b).amaxNumber().doubleValue();
  }

  @Test
  void missAndBoneFoldersRoundTrip(@TempDir Path tmp) {
    for (AdapterMethod m : new AdapterMethod[] {AdapterMethod.BAT, AdapterMethod.BONE}) {
      AdapterSet s = trainedLooking(m, 4);
      for (PeftFormat f : new PeftFormat[] {PeftFormat.MISS, PeftFormat.BONE}) {
        Path dir = tmp.resolve(m + "-" + f);
        PeftExporter.export(s, base, null, f, 0, dir);
        JsonNode cfg = Json.readTree(dir.resolve("adapter_config.json"));
        assertEquals(f == PeftFormat.MISS ? "MISS" : "BONE", cfg.get("peft_type").asText());
        assertEquals(7, cfg.get("target_modules").size());
        Map<String, INDArray> raw = SafeTensors.readAll(dir.resolve("adapter_model.safetensors"), DataType.FLOAT);
        String key = "base_model.model.model.layers.0.self_attn.q_proj." + (f == PeftFormat.MISS ? "miss_block" : "bone_block");
        assertTrue(raw.containsKey(key), raw.keySet().toString());
        AdapterSet back = PeftImporter.read(dir, base);
        assertEquals(m, back.config().method());
        assertEquals(s.peftTensors(), back.peftTensors(), m + " " + f);
      }
    }
  }

  /** MiSS mini: PEFT's config ({@code init_weights: "mini"}, {@code mini_r}) and (r, mini_r) blocks, read back. */
  @Test
  void aMiniFolderIsPeftsMissMiniAndRoundTrips(@TempDir Path tmp) {
    AdapterSet s = AdapterSet.create(base, AdapterConfig.builder().method(AdapterMethod.MINI).r(4).miniR(2).build(),
        new Rng(1));
    Nd4j.getRandom().setSeed(3);
    for (INDArray p : s.parameters()) {
      p.assign(Nd4j.randn(DataType.FLOAT, p.shape()).muli(0.05));
    }
    PeftExporter.export(s, base, null, PeftFormat.MISS, 0, tmp.resolve("miss"));
    JsonNode cfg = Json.readTree(tmp.resolve("miss/adapter_config.json"));
    assertEquals("MISS", cfg.get("peft_type").asText());
    assertEquals("mini", cfg.get("init_weights").asText());
    assertEquals(2, cfg.get("mini_r").asInt());
    assertEquals(4, cfg.get("r").asInt());
    Map<String, INDArray> raw = SafeTensors.readAll(tmp.resolve("miss/adapter_model.safetensors"), DataType.FLOAT);
    INDArray block = raw.get("base_model.model.model.layers.0.self_attn.q_proj.miss_block");
    assertEquals(java.util.List.of(4L, 2L), java.util.Arrays.stream(block.shape()).boxed().toList());
    AdapterSet back = PeftImporter.read(tmp.resolve("miss"), base);
    assertEquals(AdapterMethod.MINI, back.config().method());
    assertEquals(2, back.config().miniR());
    assertEquals(s.peftTensors(), back.peftTensors());
    // its LoRA form is exact, as bone's
    PeftExporter.export(s, base, null, PeftFormat.LORA, 0, tmp.resolve("lora"));
    AdapterSet lora = PeftImporter.read(tmp.resolve("lora"), base);
    INDArray viaMini = new Transformer(base, s).logits(BATCH);
    INDArray plain = new Transformer(base, null).logits(BATCH);
    assertTrue(maxAbsDiff(viaMini, plain) > 1e-2, "adapter has no effect");
    assertTrue(maxAbsDiff(viaMini, new Transformer(base, lora).logits(BATCH)) < 1e-4, "lora differs");
    // the legacy BONE format has no mini
    assertThrows(io.bonestream.core.BonestreamException.class,
        () -> PeftExporter.export(s, base, null, PeftFormat.BONE, 0, tmp.resolve("bone")));
  }

  @Test
  void boneLoraExportGivesTheSameLogits(@TempDir Path tmp) {
    AdapterSet bone = trainedLooking(AdapterMethod.BONE, 8);
    PeftExporter.export(bone, base, null, PeftFormat.LORA, 0, tmp);
    JsonNode cfg = Json.readTree(tmp.resolve("adapter_config.json"));
    assertEquals("LORA", cfg.get("peft_type").asText());
    assertEquals(8, cfg.get("r").asInt());
    AdapterSet lora = PeftImporter.read(tmp, base);
    assertEquals(AdapterMethod.LORA, lora.config().method());
    INDArray viaBone = new Transformer(base, bone).logits(BATCH);
    INDArray viaLora = new Transformer(base, lora).logits(BATCH);
    INDArray plain = new Transformer(base, null).logits(BATCH);
    assertTrue(maxAbsDiff(viaBone, plain) > 1e-2, "adapter has no effect");
    assertTrue(maxAbsDiff(viaBone, viaLora) < 1e-4, "lora differs by " + maxAbsDiff(viaBone, viaLora));
  }

  @Test
  void mergedExportLoadsAsAModelThatEqualsTheAdapter(@TempDir Path tmp) {
    AdapterSet bat = trainedLooking(AdapterMethod.BAT, 4);
    PeftExporter.export(bat, base, TestFiles.stories260K(), PeftFormat.MERGED, 0, tmp);
    BaseModel merged = BaseModel.load(tmp);
    INDArray viaAdapter = new Transformer(base, bat).logits(BATCH);
    INDArray viaMerged = new Transformer(merged, null).logits(BATCH);
    assertTrue(maxAbsDiff(viaAdapter, viaMerged) < 1e-4, "merged differs by " + maxAbsDiff(viaAdapter, viaMerged));
    assertTrue(maxAbsDiff(viaAdapter, new Transformer(base, null).logits(BATCH)) > 1e-2);
  }

  @Test
  void batLoraExportIsATruncatedSvdWithItsErrorReported(@TempDir Path tmp) {
    AdapterSet bat = trainedLooking(AdapterMethod.BAT, 4);
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> PeftExporter.export(bat, base, null, PeftFormat.LORA, 0, tmp.resolve("x")));
    assertTrue(e.getMessage().contains("--rank"), e.getMessage());
    double previous = Double.MAX_VALUE;
    for (int rank : new int[] {2, 8, 32, 64}) {
      PeftExport.Result r = PeftExporter.export(bat, base, null, PeftFormat.LORA, rank, tmp.resolve("r" + rank));
      assertTrue(r.relativeError() < previous, "error must fall with rank");
      previous = r.relativeError();
      // an independent check of the reported number: ‖ΔW − BA‖ / ‖ΔW‖ on one layer from the files
      Map<String, INDArray> t = SafeTensors.readAll(tmp.resolve("r" + rank).resolve("adapter_model.safetensors"), DataType.DOUBLE);
      String k = "base_model.model.model.layers.2.mlp.gate_proj";
      INDArray approx = t.get(k + ".lora_B.weight").mmul(t.get(k + ".lora_A.weight"));
      var adapter = bat.byModulePath().get("model.layers.2.mlp.gate_proj");
      INDArray delta = adapter.mergedWeight().sub(adapter.base().weight()).castTo(DataType.DOUBLE);
      double layerErr = delta.sub(approx).norm2Number().doubleValue() / delta.norm2Number().doubleValue();
      assertTrue(layerErr <= r.worstLayerError() + 1e-6, "layer error above the reported worst");
    }
    assertTrue(previous < 1e-5, "full rank (64 = min(O, I)) must be exact, got " + previous);
  }

  @Test
  void refusesAnAdapterOfAnotherBase(@TempDir Path tmp) {
    AdapterSet s = trainedLooking(AdapterMethod.BONE, 4);
    PeftExporter.export(s, base, null, PeftFormat.MISS, 0, tmp);
    Map<String, INDArray> t = base.namedTensors();
    BaseModel other = BaseModel.fromTensors("other", base.config(), t, "0".repeat(64));
    BonestreamException e = assertThrows(BonestreamException.class, () -> PeftImporter.read(tmp, other));
    assertTrue(e.getMessage().contains("another base model"), e.getMessage());
  }
}
