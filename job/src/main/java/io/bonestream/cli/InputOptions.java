package io.bonestream.cli;

import io.bonestream.operators.decode.InputFormat;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.RegistrySettings;
import io.bonestream.operators.decode.ValueSource;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How a topic's records are encoded and read: the options of an {@code input:} entry of job.yaml. */
final class InputOptions {
  @Option(names = "--format", defaultValue = "avro", paramLabel = "avro|json|avro-registry",
      description = "how the topic's records are encoded (default: ${DEFAULT-VALUE})")
  String format;

  @Mixin RecordReadingOptions reading;

  @Option(names = "--adapter-id", paramLabel = "SRC",
      description = "field:<path>, key, header:<name> or constant:<id> (default: field:adapter_id)")
  String adapterId;

  @Option(names = "--example-id", paramLabel = "SRC", description = "where the example id comes from, as --adapter-id (default: field:example_id)")
  String exampleId;

  @Option(names = "--user-id", paramLabel = "SRC", description = "where the user id comes from, as --adapter-id (default: field:metadata.user_id)")
  String userId;

  @Option(names = "--weight", paramLabel = "SRC", description = "where the example's loss weight comes from, as --adapter-id (default: field:weight)")
  String weight;

  @Option(names = "--event-time", paramLabel = "SRC", description = "... or kafka-timestamp (default: field:event_time)")
  String eventTime;

  @Option(names = "--registry-url", paramLabel = "URL", description = "avro-registry: the registry's Confluent-compatible API")
  String registryUrl;

  /**
   * Refuses JSON reading options with {@code --format avro}, for a command that reads the topic:
   * InstructionRecord is read as it is, so a shape or field mapping would silently not apply.
   * ({@code produce} reads its JSONL file with them whatever the topic's format.)
   */
  void checkReadingAppliesToFormat() {
    if (InputFormat.fromId(format) == InputFormat.AVRO && !reading.isDefault()) {
      throw new io.bonestream.core.BonestreamException("--shape, --field and --message-names say how JSON is read "
          + "(--format json, or avro-registry, whose records are read as JSON); --format avro reads InstructionRecord "
          + "as it is");
    }
  }

  /** The input these options describe, for {@code topic}. */
  InputSpec spec(String topic) {
    InputFormat f = InputFormat.fromId(format);
    InputSpec.Builder b = InputSpec.builder().topic(topic).format(f);
    if (f != InputFormat.AVRO) {
      b.json(reading.options());
    }
    if (adapterId != null) {
      b.adapterId(ValueSource.parse(adapterId, "--adapter-id"));
    }
    if (exampleId != null) {
      b.exampleId(ValueSource.parse(exampleId, "--example-id"));
    }
    if (userId != null) {
      b.userId(ValueSource.parse(userId, "--user-id"));
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
