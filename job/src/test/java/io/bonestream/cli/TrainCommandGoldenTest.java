package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.SafeTensors;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The four reference runs (PyTorch, float64) reproduced through {@code bonestream train}. The
 * tolerances are those the goldens' README gives for a float32 engine: relative L2 error of all
 * adapter tensors below 1e-4 (SGD) or 5e-3 (AdamW), and the per-step losses alike.
 */
class TrainCommandGoldenTest {
  @ParameterizedTest(name = "{0}")
  @CsvSource({
    "bone_r8_sgd_3steps,        bone, 8, 3,  2, sgd,   0,    0, 1e-4",
    "bat_r4_sgd_3steps,         bat,  4, 3,  2, sgd,   0,    0, 1e-4",
    "bone_r8_adamw_20steps,     bone, 8, 20, 4, adamw, 0.01, 0, 5e-3",
    "bat_r4_adamw_clip_20steps, bat,  4, 20, 4, adamw, 0,    1, 5e-3",
  })
  void reproducesTheReference(String name, String method, int r, int steps, int batch, String optimizer,
      double weightDecay, double clip, double tolerance, @TempDir Path out) {
    Path golden = TestFiles.golden().resolve(name);
    Cli cli = Cli.run("train", "--model", TestFiles.stories260K().toString(),
        "--data", TestFiles.golden().resolve("tiny_sft.jsonl").toString(),
        "--method", method, "--r", "" + r, "--steps", "" + steps, "--batch-size", "" + batch,
        "--optimizer", optimizer, "--lr", "0.01", "--weight-decay", "" + weightDecay,
        "--max-grad-norm", "" + clip, "--shuffle", "false", "--out", out.toString());
    assertEquals(0, cli.exitCode(), cli.err());
    assertTrue(cli.out().contains("step " + steps + "/" + steps), cli.out());

    Map<String, INDArray> want = SafeTensors.readAll(golden.resolve("adapter_model.safetensors"), DataType.DOUBLE);
    Map<String, INDArray> got = SafeTensors.readAll(out.resolve("adapter_model.safetensors"), DataType.DOUBLE);
    assertEquals(want.keySet(), got.keySet());
    double diff = 0;
    double norm = 0;
    for (String k : want.keySet()) {
      diff += Math.pow(got.get(k).sub(want.get(k)).norm2Number().doubleValue(), 2);
      norm += Math.pow(want.get(k).norm2Number().doubleValue(), 2);
    }
    double rel = Math.sqrt(diff / norm);
    assertTrue(rel < tolerance, name + ": relative L2 error " + rel);

    JsonNode wantLoss = Json.readTree(golden.resolve("losses.json")).get("losses");
    JsonNode gotLoss = Json.readTree(out.resolve("losses.json")).get("losses");
    assertEquals(steps, gotLoss.size());
    for (int s = 0; s < steps; s++) {
      assertEquals(wantLoss.get(s).asDouble(), gotLoss.get(s).asDouble(), tolerance * wantLoss.get(s).asDouble(),
          name + " step " + s);
    }
    JsonNode cfg = Json.readTree(out.resolve("adapter_config.json"));
    JsonNode wantCfg = Json.readTree(golden.resolve("adapter_config.json"));
    for (String field : new String[] {"peft_type", "r", "init_weights", "target_modules", "mini_r"}) {
      assertEquals(wantCfg.get(field), cfg.get(field), field);
    }
  }
}
