package io.bonestream.engine.data;

import io.bonestream.engine.tokenizer.ChatMessage;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What one record asks to train on, before tokenizing: the common form every input format (JSON
 * shapes, Avro, a registry's Avro) is read into, and {@link #encode}d by one {@link ExampleEncoder}.
 */
public sealed interface Instruction {
  /** Tokens and labels, as {@link ExampleEncoder} makes them. */
  Example encode(ExampleEncoder encoder);

  /** Characters of text in the record (checked against a limit before any tokenizing). */
  long textChars();

  /** Chat messages in the record (0 for the other kinds). */
  default int messageCount() {
    return 0;
  }

  /** A prompt and its response; the loss on the response. */
  record PromptResponse(@Nullable String system, String prompt, String response) implements Instruction {
    @Override
    public Example encode(ExampleEncoder encoder) {
      return encoder.promptResponse(system, prompt, response);
    }

    @Override
    public long textChars() {
      return (system == null ? 0 : system.length()) + prompt.length() + response.length();
    }
  }

  /** A conversation; the loss on the assistant turns. */
  record Chat(List<ChatMessage> messages) implements Instruction {
    public Chat {
      messages = List.copyOf(messages);
    }

    @Override
    public Example encode(ExampleEncoder encoder) {
      return encoder.chat(messages);
    }

    @Override
    public long textChars() {
      return messages.stream().mapToLong(m -> m.content().length()).sum();
    }

    @Override
    public int messageCount() {
      return messages.size();
    }
  }

  /** Plain text for continued pre-training: every token a target. */
  record Text(String text) implements Instruction {
    @Override
    public Example encode(ExampleEncoder encoder) {
      return encoder.text(text);
    }

    @Override
    public long textChars() {
      return text.length();
    }
  }

  /** Pre-tokenized input ids and labels (−100 = not a target). */
  record Tokens(int[] inputIds, int[] labels) implements Instruction {
    @Override
    public Example encode(ExampleEncoder encoder) {
      return encoder.tokens(inputIds, labels);
    }

    @Override
    public long textChars() {
      return 0;
    }
  }
}
