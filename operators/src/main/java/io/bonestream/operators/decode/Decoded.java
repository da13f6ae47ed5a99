package io.bonestream.operators.decode;

import io.bonestream.engine.data.Instruction;
import org.jspecify.annotations.Nullable;

/**
 * A record decoded from its format: what it trains on and its own fields (for the adapter id,
 * example id, weight and event time, wherever {@link InputSpec} says they come from).
 */
public record Decoded(Instruction instruction, Fields fields) {
  /**
   * A record's fields by name or dotted path: a String, a Number, a Boolean, an
   * {@link java.time.Instant}, an object or array (whose {@code toString} is its JSON text) or null.
   */
  @FunctionalInterface
  public interface Fields {
    @Nullable Object get(String path);
  }
}
