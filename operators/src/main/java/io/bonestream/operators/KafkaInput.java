package io.bonestream.operators;

/**
 * One record as it came from Kafka: the raw key and value and where it was read. Nothing is
 * decoded here, so a bad record can still reach the dead-letter topic byte for byte.
 */
public class KafkaInput {
  public byte[] key;
  public byte[] value;
  public String topic;
  public int partition;
  public long offset;
  public long timestamp;
  /** The record's headers, names and values side by side (empty arrays when it has none). */
  public String[] headerNames = new String[0];
  public byte[][] headerValues = new byte[0][];

  public KafkaInput() {}

  public KafkaInput(byte[] key, byte[] value, String topic, int partition, long offset, long timestamp) {
    this.key = key;
    this.value = value;
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
  }

  /** With these headers. */
  public KafkaInput withHeaders(String[] names, byte[][] values) {
    this.headerNames = names;
    this.headerValues = values;
    return this;
  }

  /** The value of the last header named {@code name}, or null. */
  public byte[] header(String name) {
    for (int i = headerNames.length - 1; i >= 0; i--) {
      if (headerNames[i].equals(name)) {
        return headerValues[i];
      }
    }
    return null;
  }
}
