package io.bonestream.operators.decode;

import io.bonestream.operators.KafkaInput;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Keeps each Kafka record as raw bytes with its coordinates; never fails. */
public final class KafkaInputDeserializer implements KafkaRecordDeserializationSchema<KafkaInput> {
  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<KafkaInput> out) {
    out.collect(new KafkaInput(r.key(), r.value() == null ? new byte[0] : r.value(), r.topic(),
        r.partition(), r.offset(), r.timestamp()));
  }

  @Override
  public TypeInformation<KafkaInput> getProducedType() {
    return TypeInformation.of(KafkaInput.class);
  }
}
