package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;

/**
 * When an adapter's buffered examples become one optimizer step. The input-driven rules keep a
 * replay after a failure bit-identical: a step is taken when {@code maxExamples} are buffered, when
 * they hold {@code maxTokens} tokens, or (with {@code maxEventTimeSpanMs} > 0) when a record arrives
 * that much event time after the oldest buffered one (the buffered records form the step, the new
 * one starts the next). {@code wallClockFlushMs} > 0 also trains whatever waited that long in wall
 * time: useful for slow streams, but it gives up bit-identical recovery.
 */
public record BatchPolicy(int maxExamples, long maxTokens, long maxEventTimeSpanMs,
    long wallClockFlushMs) implements Serializable {
  public BatchPolicy {
    if (maxExamples <= 0 || maxTokens <= 0 || maxEventTimeSpanMs < 0 || wallClockFlushMs < 0) {
      throw new BonestreamException("batch policy: max examples and max tokens must be positive, "
          + "time spans ≥ 0 (0 = off)");
    }
  }

  public static BatchPolicy ofExamples(int n) {
    return new BatchPolicy(n, Long.MAX_VALUE, 0, 0);
  }
}
