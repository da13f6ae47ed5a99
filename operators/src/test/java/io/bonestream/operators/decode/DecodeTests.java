package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertThrows;

import io.bonestream.engine.TestFiles;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import java.util.List;

/** What the decode tests share: a decoder of some inputs on stories260K, Avro bytes, a refusal's reason. */
final class DecodeTests {
  private DecodeTests() {}

  /** A decoder of {@code inputs}, sequences of at most 64 tokens, prepared with {@code model}. */
  static DecodeInstructions decoder(SharedModels.Loaded model, InputSpec... inputs) {
    DecodeInstructions d = new DecodeInstructions(TestFiles.stories260K().toString(), 64, InputLimits.DEFAULT, false,
        List.of(inputs));
    d.prepare(model);
    return d;
  }

  /** {@code r} in Avro single-object encoding. */
  static byte[] avro(InstructionRecord r) throws Exception {
    ByteBuffer b = InstructionRecord.getEncoder().encode(r);
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  /** The reason {@code d} refuses {@code in} for (fails when it does not). */
  static DeadLetterReason refusal(DecodeInstructions d, KafkaInput in) {
    return assertThrows(Rejected.class, () -> d.decode(in)).reason();
  }
}
