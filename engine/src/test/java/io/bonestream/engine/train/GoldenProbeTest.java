package io.bonestream.engine.train;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterMethod;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.SafeTensors;
import io.bonestream.engine.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class GoldenProbeTest {
  @Test
  void probe() throws Exception {
    Path g = TestFiles.resource("golden");
    List<Example> rows = new ArrayList<>();
    for (String line : Files.readAllLines(g.resolve("tiny_sft.jsonl"))) {
      JsonNode n = Json.MAPPER.readTree(line);
      int[] ids = new int[n.get("input_ids").size()];
      int[] lab = new int[ids.length];
      for (int i = 0; i < ids.length; i++) { ids[i] = n.get("input_ids").get(i).asInt(); lab[i] = n.get("labels").get(i).asInt(); }
      rows.add(new Example(ids, lab));
    }
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    run(base, rows, g.resolve("bone_r8_sgd_3steps"), AdapterMethod.BONE, 8, 3, 2, TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.01).maxGradNorm(0));
    run(base, rows, g.resolve("bat_r4_sgd_3steps"), AdapterMethod.BAT, 4, 3, 2, TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.01).maxGradNorm(0));
    run(base, rows, g.resolve("bone_r8_adamw_20steps"), AdapterMethod.BONE, 8, 20, 4, TrainConfig.builder().lr(0.01).weightDecay(0.01).maxGradNorm(0));
    run(base, rows, g.resolve("bat_r4_adamw_clip_20steps"), AdapterMethod.BAT, 4, 20, 4, TrainConfig.builder().lr(0.01).maxGradNorm(1.0));
  }

  void run(BaseModel base, List<Example> rows, Path dir, AdapterMethod m, int r, int steps, int bs, TrainConfig.Builder cb) throws Exception {
    Trainer t = Trainer.create(base, AdapterConfig.builder().method(m).r(r).build(), cb.batchSize(bs).build());
    JsonNode losses = Json.readTree(dir.resolve("losses.json")).get("losses");
    double maxLd = 0;
    for (int s = 0; s < steps; s++) {
      List<Example> b = new ArrayList<>();
      for (int j = 0; j < bs; j++) b.add(rows.get((s * bs + j) % rows.size()));
      StepResult res = t.step(b);
      maxLd = Math.max(maxLd, Math.abs(res.loss() - losses.get(s).asDouble()));
    }
    Map<String, INDArray> gold = SafeTensors.readAll(dir.resolve("adapter_model.safetensors"), DataType.DOUBLE);
    double num = 0, den = 0;
    for (Map.Entry<String, INDArray> e : t.adapters().peftTensors().entrySet()) {
      INDArray gg = gold.get(e.getKey());
      INDArray d = e.getValue().castTo(DataType.DOUBLE).sub(gg);
      num += Math.pow(d.norm2Number().doubleValue(), 2); den += Math.pow(gg.norm2Number().doubleValue(), 2);
    }
    System.out.println(dir.getFileName() + " relL2=" + Math.sqrt(num / den) + " maxLossDiff=" + maxLd);
  }
}
