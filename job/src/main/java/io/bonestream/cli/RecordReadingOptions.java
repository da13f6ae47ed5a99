package io.bonestream.cli;

import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.data.RecordShape;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/** How JSON records are read (train, produce, inspect): their shape, field names and message names. */
final class RecordReadingOptions {
  @Option(names = "--shape", defaultValue = "auto", paramLabel = "S",
      description = "the records' shape: auto, chat, sharegpt, alpaca, prompt-completion, prompt-response, text "
          + "or tokens (default: ${DEFAULT-VALUE})")
  String shape;

  @Option(names = "--field", paramLabel = "NAME=FIELD",
      description = "read the standard field NAME from the record's FIELD (a dotted path), e.g. prompt=question")
  Map<String, String> fields = new LinkedHashMap<>();

  @Option(names = "--message-names", defaultValue = "refuse", paramLabel = "refuse|drop|prefix",
      description = "what a chat message's name becomes (default: ${DEFAULT-VALUE})")
  String messageNames;

  /** True when none of these options was given a value other than its default. */
  boolean isDefault() {
    return "auto".equals(shape) && fields.isEmpty() && "refuse".equals(messageNames);
  }

  RecordParser.Options options() {
    return new RecordParser.Options(RecordShape.fromId(shape), FieldNames.of(fields),
        RecordParser.MessageNames.fromId(messageNames));
  }
}
