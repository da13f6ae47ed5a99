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

  public KafkaInput() {}

  public KafkaInput(byte[] key, byte[] value, String topic, int partition, long offset, long timestamp) {
    this.key = key;
    this.value = value;
    this.topic = topic;
    this.partition = partition;
    this.offset = offset;
    this.timestamp = timestamp;
  }
}
