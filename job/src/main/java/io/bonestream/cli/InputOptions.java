package io.bonestream.cli;

import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.data.RecordShape;
import io.bonestream.operators.decode.InputFormat;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.RegistrySettings;
import io.bonestream.operators.decode.ValueSource;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/** How a topic's records are encoded and read: the options of an {@code input:} entry of job.yaml. */
final class InputOptions {
  @Option(names = "--format", defaultValue = "avro", paramLabel = "avro|json|avro-registry",
      description = "how the topic's records are encoded (default: ${DEFAULT-VALUE})")
  String format;

  @Option(names = "--shape", defaultValue = "auto", paramLabel = "S",
      description = "json: auto, chat, sharegpt, alpaca, prompt-completion, prompt-response, text or tokens "
          + "(default: ${DEFAULT-VALUE})")
  String shape;

  @Option(names = "--field", paramLabel = "NAME=FIELD",
      description = "read the standard field NAME from the record's FIELD (a dotted path), e.g. prompt=question")
  Map<String, String> fields = new LinkedHashMap<>();

  @Option(names = "--message-names", defaultValue = "refuse", paramLabel = "refuse|drop|prefix",
      description = "what a chat message's name becomes (default: ${DEFAULT-VALUE})")
  String messageNames;

  @Option(names = "--adapter-id", paramLabel = "SRC",
      description = "field:<path>, key, header:<name> or constant:<id> (default: field:adapter_id)")
  String adapterId;

  @Option(names = "--example-id", paramLabel = "SRC", description = "(default: field:example_id)")
  String exampleId;

  @Option(names = "--weight", paramLabel = "SRC", description = "(default: field:weight)")
  String weight;

  @Option(names = "--event-time", paramLabel = "SRC", description = "... or kafka-timestamp (default: field:event_time)")
  String eventTime;

  @Option(names = "--registry-url", paramLabel = "URL", description = "avro-registry: the registry's Confluent-compatible API")
  String registryUrl;

  /** The input these options describe, for {@code topic}. */
  InputSpec spec(String topic) {
    InputFormat f = InputFormat.fromId(format);
    InputSpec.Builder b = InputSpec.builder().topic(topic).format(f);
    if (f != InputFormat.AVRO) {
      b.json(new RecordParser.Options(RecordShape.fromId(shape), FieldNames.of(fields),
          RecordParser.MessageNames.fromId(messageNames)));
    }
    if (adapterId != null) {
      b.adapterId(ValueSource.parse(adapterId, "--adapter-id"));
    }
    if (exampleId != null) {
      b.exampleId(ValueSource.parse(exampleId, "--example-id"));
    }
    if (weight != null) {
      b.weight(ValueSource.parse(weight, "--weight"));
    }
    if (eventTime != null) {
      b.eventTime(ValueSource.parse(eventTime, "--event-time"));
    }
    if (registryUrl != null) {
      b.registry(new RegistrySettings(registryUrl));
    }
    return b.build();
  }
}
