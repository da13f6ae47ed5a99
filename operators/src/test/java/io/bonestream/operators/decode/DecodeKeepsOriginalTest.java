package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.bonestream.engine.TestFiles;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** An accepted record's bytes travel with its item only when a quota may dead-letter it later. */
class DecodeKeepsOriginalTest {
  private static SharedModels.Loaded model;

  @BeforeAll
  static void load() {
    model = SharedModels.acquire(TestFiles.stories260K());
  }

  @AfterAll
  static void release() {
    SharedModels.release(TestFiles.stories260K());
  }

  private static TrainingItem decode(boolean keepOriginal, byte[] key, byte[] value) throws Exception {
    DecodeInstructions d = new DecodeInstructions(TestFiles.stories260K().toString(), 64, InputLimits.DEFAULT,
        keepOriginal);
    d.prepare(model);
    return d.decode(new KafkaInput(key, value, "instructions", 0, 7, 0));
  }

  @Test
  void originalBytesOnlyWhenAsked() throws Exception {
    ByteBuffer b = InstructionRecord.getEncoder().encode(InstructionRecord.newBuilder().setAdapterId("colors")
        .setExampleId("e1").setPrompt("What color is the ball?").setResponse("The ball is red.").build());
    byte[] value = new byte[b.remaining()];
    b.get(value);
    byte[] key = "colors".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    TrainingItem kept = decode(true, key, value);
    assertArrayEquals(value, kept.original);
    assertArrayEquals(key, kept.originalKey);
    TrainingItem lean = decode(false, key, value);
    assertNull(lean.original);
    assertNull(lean.originalKey);
    assertArrayEquals(kept.inputIds, lean.inputIds);
  }
}
