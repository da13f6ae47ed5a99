package io.bonestream.operators.decode;

import io.bonestream.operators.KafkaInput;
import java.io.Serializable;

/** Decodes the value of a Kafka record in one {@link InputFormat}; travels with the job. */
public interface RecordDecoder extends Serializable {
  /** Prepares what cannot be serialized (clients, caches); called once per task before decoding. */
  default void open() {}

  Decoded decode(KafkaInput in) throws Rejected;

  default void close() {}

  /** The decoder of {@code spec}'s format. */
  static RecordDecoder of(InputSpec spec) {
    return switch (spec.format()) {
      case AVRO -> new AvroDecoder();
      case JSON -> new JsonDecoder(spec.json());
      case AVRO_REGISTRY -> new AvroRegistryDecoder(spec);
    };
  }
}
