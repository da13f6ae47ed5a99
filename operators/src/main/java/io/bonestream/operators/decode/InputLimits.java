package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;

/**
 * Caps checked before any decoding or tokenizing work is spent on a record: its size in bytes,
 * and for chat records the number of messages and the characters of text in all. A record over
 * one goes to the dead-letter topic.
 */
public record InputLimits(int maxRecordBytes, int maxMessages, int maxTextChars) implements Serializable {
  public static final InputLimits DEFAULT = new InputLimits(1 << 20, 256, 1 << 18);

  public InputLimits {
    if (maxRecordBytes < 64 || maxMessages < 1 || maxTextChars < 1) {
      throw new BonestreamException("input limits must be positive (max record bytes ≥ 64), got "
          + maxRecordBytes + ", " + maxMessages + ", " + maxTextChars);
    }
  }
}
