package io.bonestream.engine.data;

import io.bonestream.core.BonestreamException;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The JSON shapes a record may have. {@link #AUTO} recognizes the shape of each record by its
 * fields, in the order of this enum's constants after it (so a record with {@code messages} is a
 * chat even if it also has a {@code prompt}).
 */
public enum RecordShape {
  /** Detected per record. */
  AUTO("auto"),
  /** OpenAI chat: {@code {"messages": [{"role", "content"}, …]}}. */
  CHAT("chat"),
  /** ShareGPT: {@code {"conversations": [{"from", "value"}, …]}} (optional top-level {@code system}). */
  SHAREGPT("sharegpt"),
  /** Pre-tokenized: {@code {"input_ids", "labels"}}. */
  TOKENS("tokens"),
  /** Alpaca: {@code {"instruction", "input", "output"}} (input optional). */
  ALPACA("alpaca"),
  /** {@code {"prompt", "completion"}} (optional {@code system}). */
  PROMPT_COMPLETION("prompt-completion"),
  /** {@code {"prompt", "response"}} (optional {@code system}). */
  PROMPT_RESPONSE("prompt-response"),
  /** {@code {"text"}}: continued pre-training, every token a target. */
  TEXT("text");

  private final String id;

  RecordShape(String id) {
    this.id = id;
  }

  /** The name in job.yaml and on the command line. */
  public String id() {
    return id;
  }

  public static RecordShape fromId(String id) {
    for (RecordShape s : values()) {
      if (s.id.equals(id)) {
        return s;
      }
    }
    throw new BonestreamException("unknown record shape '" + id + "' (known: "
        + Arrays.stream(values()).map(RecordShape::id).collect(Collectors.joining(", ")) + ")");
  }
}
