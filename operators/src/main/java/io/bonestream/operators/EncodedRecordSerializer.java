package io.bonestream.operators;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes {@link EncodedRecord}s to one topic, keyed (the key decides the partition). */
public final class EncodedRecordSerializer implements KafkaRecordSerializationSchema<EncodedRecord> {
  private final String topic;

  public EncodedRecordSerializer(String topic) {
    this.topic = topic;
  }

  @Override
  public ProducerRecord<byte[], byte[]> serialize(EncodedRecord r, KafkaSinkContext context, Long timestamp) {
    return new ProducerRecord<>(topic, null, timestamp, r.key, r.value);
  }
}
