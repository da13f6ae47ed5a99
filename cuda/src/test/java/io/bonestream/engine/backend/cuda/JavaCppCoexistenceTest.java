package io.bonestream.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.backend.device.Goldens;
import io.bonestream.engine.config.OptimizerKind;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.KvCache;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.train.Trainer;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One classpath for both: the CUDA presets need JavaCPP 1.5.13, ND4J 1.0.0-M2.1 was built on
 * 1.5.7. On this module's classpath (and the job's) ND4J's CPU engine runs on 1.5.13: it must
 * still reproduce the greedy golden exactly and train a golden run within its tolerance.
 */
@org.junit.jupiter.api.Timeout(300)
class JavaCppCoexistenceTest {
  @Test
  void nd4jRunsOnJavaCpp1513() throws Exception {
    assertEquals("1.5.13", org.bytedeco.javacpp.Loader.getVersion());
    BaseModel model = BaseModel.load(TestFiles.stories260K());
    int[] golden = Goldens.ids(TestFiles.stories260K().resolve("golden/greedy_from_bos_200.ids"));
    Transformer t = new Transformer(model, null);
    KvCache cache = t.newCache(golden.length);
    int[] out = new int[golden.length];
    out[0] = golden[0];
    int next = golden[0];
    for (int i = 1; i < golden.length; i++) {
      next = t.decode(new int[] {next}, cache).argMax().getInt(0);
      out[i] = next;
    }
    assertArrayEquals(golden, out);

    List<Example> data = Goldens.data(TestFiles.golden());
    Trainer trainer = Trainer.create(model, AdapterConfig.builder().method(AdapterMethod.BONE).r(8).build(),
        TrainConfig.builder().optimizer(OptimizerKind.SGD).lr(0.01).maxGradNorm(0).batchSize(2).build());
    double[] want = {5.2374098045012305, 3.480139017141166, 1.6596506771597936};
    for (int s = 0; s < 3; s++) {
      double loss = trainer.step(data.subList(2 * s, 2 * s + 2)).loss();
      assertTrue(Math.abs(loss - want[s]) < 1e-4 * want[s], "step " + s + ": " + loss);
    }
  }
}
