package io.bonestream.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

class ModelConfigTest {
  private static ObjectNode stories() {
    return (ObjectNode) Json.readTree(TestFiles.stories260K().resolve("config.json"));
  }

  @Test
  void readsTheStoriesConfig() {
    ModelConfig c = ModelConfig.read(TestFiles.stories260K());
    assertEquals(64, c.hiddenSize());
    assertEquals(8, c.headDim());
    assertEquals(2, c.groupSize());
    assertTrue(c.tieWordEmbeddings());
  }

  @Test
  void refusesWhatItCannotRun() {
    ObjectNode c = stories();
    c.put("hidden_act", "gelu");
    assertTrue(assertThrows(BonestreamException.class, () -> ModelConfig.fromJson(c, "x"))
        .getMessage().contains("gelu"));
    ObjectNode d = stories();
    d.putObject("rope_scaling").put("rope_type", "yarn");
    assertTrue(assertThrows(BonestreamException.class, () -> ModelConfig.fromJson(d, "x"))
        .getMessage().contains("yarn"));
    ObjectNode e = stories();
    e.remove("hidden_size");
    assertTrue(assertThrows(BonestreamException.class, () -> ModelConfig.fromJson(e, "x"))
        .getMessage().contains("hidden_size"));
  }

  @Test
  void mistralSequencesMustFitTheSlidingWindow() {
    ObjectNode c = Json.MAPPER.createObjectNode();
    c.put("model_type", "mistral");
    c.put("hidden_size", 16);
    c.put("intermediate_size", 24);
    c.put("num_hidden_layers", 1);
    c.put("num_attention_heads", 4);
    c.put("num_key_value_heads", 2);
    c.put("vocab_size", 32);
    c.put("sliding_window", 4);
    ModelConfig cfg = ModelConfig.fromJson(c, "mistral");
    assertEquals(4, cfg.slidingWindow());
    Transformer t = new Transformer(RandomModel.create(cfg, DataType.FLOAT, 0.1, 0, false, 1), null);
    assertEquals(32, t.logits(TokenBatch.ofIds(new int[] {1, 2, 3, 4})).size(1));
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> t.logits(TokenBatch.ofIds(new int[] {1, 2, 3, 4, 5})));
    assertTrue(e.getMessage().contains("sliding_window 4"), e.getMessage());
  }

  @Test
  void qwen2LoadsItsQkvBiases() {
    ModelConfig cfg = RandomModels.tinyConfig("qwen2", 1);
    BaseModel m = RandomModels.model(cfg, DataType.FLOAT, true, 2);
    assertEquals(16, m.layer(0).projection(Projection.Q_PROJ).bias().length());
    assertEquals(null, m.layer(0).projection(Projection.O_PROJ).bias());
    // the bias is used: zeroing it changes the logits
    TokenBatch b = TokenBatch.ofIds(new int[] {1, 5, 7});
    var withBias = new Transformer(m, null).logits(b);
    var tensors = new java.util.TreeMap<>(m.namedTensors());
    tensors.put("model.layers.0.self_attn.v_proj.bias", tensors.get("model.layers.0.self_attn.v_proj.bias").mul(0));
    var noBias = new Transformer(BaseModel.fromTensors("x", cfg, tensors, "x"), null).logits(b);
    assertTrue(withBias.sub(noBias).amaxNumber().doubleValue() > 1e-3);
  }
}
