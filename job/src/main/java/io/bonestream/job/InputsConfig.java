package io.bonestream.job;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.data.RecordShape;
import io.bonestream.operators.decode.InputFormat;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.RegistrySettings;
import io.bonestream.operators.decode.ValueSource;
import java.util.ArrayList;
import java.util.List;

/** The {@code input:} list of job.yaml: the topics the job reads, each in its own format. */
final class InputsConfig {
  private InputsConfig() {}

  static List<InputSpec> read(List<StrictNode> entries) {
    List<InputSpec> inputs = new ArrayList<>();
    for (StrictNode n : entries) {
      inputs.add(read(n));
    }
    return inputs;
  }

  private static InputSpec read(StrictNode n) {
    n.allow("topic", "topics", "topic-pattern", "format", "shape", "fields", "message-names", "adapter-id",
        "example-id", "user-id", "weight", "event-time", "registry");
    try {
      InputSpec.Builder b = InputSpec.builder();
      List<String> topics = new ArrayList<>(n.strings("topics", List.of()));
      if (n.has("topic")) {
        topics.add(n.requiredText("topic"));
      }
      b.topics(topics).topicPattern(n.text("topic-pattern", null));
      InputFormat format = InputFormat.fromId(n.text("format", "avro"));
      b.format(format);
      if (n.has("shape") || n.has("fields") || n.has("message-names")) {
        b.json(new RecordParser.Options(RecordShape.fromId(n.text("shape", "auto")),
            FieldNames.of(n.properties("fields")),
            RecordParser.MessageNames.fromId(n.text("message-names", "refuse"))));
      }
      if (n.has("adapter-id")) {
        b.adapterId(ValueSource.parse(n.requiredText("adapter-id"), "adapter-id"));
      }
      if (n.has("example-id")) {
        b.exampleId(ValueSource.parse(n.requiredText("example-id"), "example-id"));
      }
      if (n.has("user-id")) {
        b.userId(ValueSource.parse(n.requiredText("user-id"), "user-id"));
      }
      if (n.has("weight")) {
        b.weight(ValueSource.parse(n.requiredText("weight"), "weight"));
      }
      if (n.has("event-time")) {
        b.eventTime(ValueSource.parse(n.requiredText("event-time"), "event-time"));
      }
      if (n.has("registry")) {
        b.registry(registry(n.section("registry")));
      }
      return b.build();
    } catch (BonestreamException e) {
      throw n.error(e.getMessage());
    }
  }

  /** The registry block, whose keys RegistrySettings checks itself (its errors name the file). */
  private static RegistrySettings registry(StrictNode r) {
    return RegistrySettings.fromConfig(r.json(), "registry");
  }
}
