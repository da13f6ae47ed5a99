package io.bonestream.engine.adapters;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.bat.BatAdapter;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Linear;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.model.Transformer;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class AdapterShapeAndMergeTest {
  private static final ModelConfig CONFIG = RandomModels.tinyConfig("llama", 2);
  private static final BaseModel MODEL = RandomModels.model(CONFIG, DataType.DOUBLE, false, 1);

  @Test
  void refusesBadShapesNamingTheLayerAndNumbers() {
    // k_proj is (8, 16): r = 16 divides in but not out
    BonestreamException e = assertThrows(BonestreamException.class, () -> AdapterSet.create(MODEL,
        AdapterConfig.builder().method(AdapterMethod.BAT).r(16).build(), new Rng(0)));
    assertTrue(e.getMessage().contains("r=16") && e.getMessage().contains("model.layers.0.self_attn.k_proj")
        && e.getMessage().contains("in 16, out 8"), e.getMessage());
    e = assertThrows(BonestreamException.class, () -> AdapterConfig.builder().r(0).build());
    assertTrue(e.getMessage().contains("r must be positive"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> AdapterConfig.builder().targetModules(List.of("q_proj", "qq_proj")).build());
    assertTrue(e.getMessage().contains("'qq_proj'"), e.getMessage());
    // bone takes any r, remainder included (intermediate 24, r = 5)
    assertEquals(2 * 7, AdapterSet.create(MODEL, AdapterConfig.builder().method(AdapterMethod.BONE).r(5).build(),
        new Rng(0)).adapters().size());
  }

  @Test
  void parameterCountIsROTimesLayersForBothBoneVariants() {
    for (AdapterMethod m : List.of(AdapterMethod.BAT, AdapterMethod.BONE)) {
      AdapterSet s = AdapterSet.create(MODEL, AdapterConfig.builder().method(m).r(4).build(), new Rng(0));
      // per layer: r·O summed over q(16) k(8) v(8) o(16) gate(24) up(24) down(16) = 4·112
      assertEquals(2L * 4 * 112, s.parameterCount(), m.id());
    }
    AdapterSet lora = AdapterSet.create(MODEL, AdapterConfig.builder().method(AdapterMethod.LORA).r(4).build(), new Rng(0));
    // r·(I + O): q 32, k 24, v 24, o 32, gate 40, up 40, down 40 = 232
    assertEquals(2L * 4 * 232, lora.parameterCount());
  }

  @Test
  void mergedForwardEqualsAdapterForwardAndUnmergeRestoresW() {
    TokenBatch batch = TokenBatch.ofIds(new int[] {1, 7, 3, 9, 12, 5});
    for (AdapterMethod m : AdapterMethod.values()) {
      AdapterSet s = AdapterSet.create(MODEL, AdapterConfig.builder().method(m).r(4).build(), new Rng(2));
      Nd4j.getRandom().setSeed(3);
      for (INDArray p : s.parameters()) {
        p.assign(Nd4j.randn(DataType.DOUBLE, p.shape()).muli(0.3));
      }
      INDArray adapted = new Transformer(MODEL, s).logits(batch);
      INDArray merged = new Transformer(s.mergedInto(MODEL), null).logits(batch);
      INDArray base = new Transformer(MODEL, null).logits(batch);
      assertTrue(adapted.sub(base).norm2Number().doubleValue() > 1e-2, m + ": adapter has no effect");
      assertTrue(adapted.sub(merged).norm2Number().doubleValue() < 1e-9, m + ": merged differs");
      for (Adapter a : s.adapters()) {
        INDArray restored = a.unmergedWeight(a.mergedWeight());
        assertTrue(restored.sub(a.base().weight()).norm2Number().doubleValue() < 1e-9, m + ": unmerge");
      }
    }
  }

  @Test
  void batUnmergeRefusesASingularBlock() {
    Linear base = new Linear(Nd4j.randn(DataType.DOUBLE, 4, 4), null);
    BatAdapter a = new BatAdapter(base, 2, "model.layers.0.mlp.up_proj", new ParameterStore(DataType.DOUBLE, 8));
    INDArray b = a.namedParameters().get("miss_block"); // (2, 2, 2)
    b.slice(1).assign(Nd4j.createFromArray(new double[][] {{-1, 0}, {0, 0}})); // I + B[1] singular
    BonestreamException e = assertThrows(BonestreamException.class, () -> a.unmergedWeight(a.mergedWeight()));
    assertTrue(e.getMessage().contains("model.layers.0.mlp.up_proj") && e.getMessage().contains("B[1]"),
        e.getMessage());
  }
}
