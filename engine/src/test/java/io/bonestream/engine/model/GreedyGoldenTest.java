package io.bonestream.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.bonestream.engine.TestFiles;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class GreedyGoldenTest {
  @Test
  void greedyFromBosMatchesLlama2c() throws Exception {
    int[] golden = Arrays.stream(Files.readString(TestFiles.stories260K().resolve("golden/greedy_from_bos_200.ids"))
        .trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    BaseModel model = BaseModel.load(TestFiles.stories260K());
    Transformer t = new Transformer(model, null);
    KvCache cache = t.newCache(golden.length);
    int[] out = new int[golden.length];
    out[0] = 1;
    int next = 1;
    for (int i = 1; i < golden.length; i++) {
      INDArray logits = t.decode(new int[] {next}, cache);
      next = logits.argMax().getInt(0);
      out[i] = next;
    }
    assertArrayEquals(golden, out);
  }
}
