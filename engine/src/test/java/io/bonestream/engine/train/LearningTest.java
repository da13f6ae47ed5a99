package io.bonestream.engine.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.ExampleOrder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Training stories260K on a small instruction task lowers the loss on held-out prompts: facts of
 * the form "Lily has a red ball. What color is the ball?" → "The ball is red." with name, color and
 * object combinations that never occur in training.
 */
class LearningTest {
  private static final String[] NAMES = {"Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Anna", "Sam"};
  private static final String[] COLORS = {"red", "blue", "green", "yellow", "pink", "brown"};
  private static final String[] OBJECTS = {"ball", "car", "hat", "box", "dog", "cat"};

  @Test
  void heldOutLossFallsForEveryMethod() {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    List<Example> train = new ArrayList<>();
    List<Example> heldOut = new ArrayList<>();
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
      ExampleEncoder enc = new ExampleEncoder(tok, 64, base.config().vocabSize());
      int i = 0;
      for (String name : NAMES) {
        for (String color : COLORS) {
          String object = OBJECTS[(i * 5 + name.length()) % OBJECTS.length];
          Example e = enc.promptResponse(null, name + " has a " + color + " " + object
              + ". What color is the " + object + "?", "The " + object + " is " + color + ".");
          (i % 4 == 3 ? heldOut : train).add(e);
          i++;
        }
      }
    }
    for (AdapterMethod m : AdapterMethod.values()) {
      Trainer t = Trainer.create(base, AdapterConfig.builder().method(m).r(4).build(),
          TrainConfig.builder().lr(m == AdapterMethod.LORA ? 2e-2 : 1e-2).batchSize(8).build());
      double before = Trainer.evaluate(new Transformer(base, null), heldOut, 8);
      ExampleOrder order = new ExampleOrder(train.size(), 1, true);
      for (int s = 0; s < 40; s++) {
        List<Example> batch = new ArrayList<>();
        for (int j = 0; j < 8; j++) {
          batch.add(train.get(order.at(s * 8L + j)));
        }
        t.step(batch);
      }
      double after = t.evaluate(heldOut);
      System.out.printf("%s: held-out loss %.3f -> %.3f%n", m, before, after);
      assertTrue(after < 0.5 * before, m + ": held-out loss " + before + " -> " + after);
    }
  }
}
