package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;

/**
 * Where a record's adapter id, example id, weight or event time comes from, written in job.yaml as
 * {@code field:<path>}, {@code key}, {@code header:<name>}, {@code constant:<value>} or (event
 * time only) {@code kafka-timestamp}.
 */
public sealed interface ValueSource extends Serializable {
  /** A field of the record (a dotted path into nested JSON objects). */
  record Field(String path) implements ValueSource {
    @Override
    public String toString() {
      return "field:" + path;
    }
  }

  /** The Kafka record's key, as UTF-8 text. */
  record Key() implements ValueSource {
    @Override
    public String toString() {
      return "key";
    }
  }

  /** A Kafka header's value, as UTF-8 text (the last header of that name). */
  record Header(String name) implements ValueSource {
    @Override
    public String toString() {
      return "header:" + name;
    }
  }

  /** The same value for every record of the topic (one adapter per topic). */
  record Constant(String value) implements ValueSource {
    @Override
    public String toString() {
      return "constant:" + value;
    }
  }

  /** The Kafka record's timestamp (for event time). */
  record KafkaTimestamp() implements ValueSource {
    @Override
    public String toString() {
      return "kafka-timestamp";
    }
  }

  /** Reads the job.yaml form; {@code what} names the setting in errors. */
  static ValueSource parse(String spec, String what) {
    if (spec.equals("key")) {
      return new Key();
    }
    if (spec.equals("kafka-timestamp")) {
      return new KafkaTimestamp();
    }
    int colon = spec.indexOf(':');
    String kind = colon < 0 ? "" : spec.substring(0, colon);
    String arg = colon < 0 ? "" : spec.substring(colon + 1);
    if (!arg.isEmpty()) {
      switch (kind) {
        case "field":
          return new Field(arg);
        case "header":
          return new Header(arg);
        case "constant":
          return new Constant(arg);
        default:
          break;
      }
    }
    throw new BonestreamException(what + ": '" + spec + "' is not field:<name>, key, header:<name>, "
        + "constant:<value> or kafka-timestamp");
  }
}
