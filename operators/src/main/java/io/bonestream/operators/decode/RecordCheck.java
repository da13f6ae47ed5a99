package io.bonestream.operators.decode;

import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import java.nio.file.Path;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The job's decode step outside Flink: what a record becomes, exactly as the job would decode it
 * (for {@code bonestream inspect} and benchmarks). Close it to release the model.
 */
public final class RecordCheck implements AutoCloseable {
  /** A training item, or the reason and message of the dead letter the record would become. */
  public record Outcome(@Nullable TrainingItem item, @Nullable DeadLetterReason reason, @Nullable String message) {
    public boolean accepted() {
      return item != null;
    }
  }

  private final DecodeInstructions decode;
  private final SharedModels.Loaded loaded;
  private boolean closed;

  private RecordCheck(DecodeInstructions decode, SharedModels.Loaded loaded) {
    this.decode = decode;
    this.loaded = loaded;
  }

  public static RecordCheck open(Path modelDir, int maxSeqLen, InputLimits limits, List<InputSpec> inputs) {
    SharedModels.Loaded loaded = SharedModels.acquire(modelDir);
    DecodeInstructions d = new DecodeInstructions(modelDir.toString(), maxSeqLen, limits, false, inputs);
    d.prepare(loaded);
    return new RecordCheck(d, loaded);
  }

  /** Decodes one record; never throws for a bad record. */
  public Outcome check(KafkaInput in) {
    try {
      return new Outcome(decode.decode(in), null, null);
    } catch (Rejected r) {
      return new Outcome(null, r.reason(), r.getMessage());
    } catch (RuntimeException e) {
      return new Outcome(null, DeadLetterReason.UNEXPECTED, "cannot decode: " + e);
    }
  }

  /**
   * Why the job's json input would refuse {@code value} before tokenizing (its reading and its
   * shape), as {@code message (REASON)}; null if it would read it.
   */
  public static @Nullable String jsonProblem(byte[] value, io.bonestream.engine.data.RecordParser.Options options) {
    try {
      JsonDecoder.read(JsonDecoder.parse(value), options);
      return null;
    } catch (Rejected r) {
      return r.getMessage() + " (" + r.reason() + ")";
    }
  }

  public Tokenizer tokenizer() {
    return loaded.tokenizer();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      decode.close();
    }
  }
}
