package io.bonestream.operators.decode;

import io.bonestream.operators.KafkaInput;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/** Keeps each Kafka record as raw bytes with its coordinates; never fails. */
public final class KafkaInputDeserializer implements KafkaRecordDeserializationSchema<KafkaInput> {
  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<KafkaInput> out) {
    KafkaInput in = toInput(r);
    out.collect(in);
  }

  /** The record's bytes, coordinates and headers. */
  public static KafkaInput toInput(ConsumerRecord<byte[], byte[]> r) {
    KafkaInput in = new KafkaInput(r.key(), r.value() == null ? new byte[0] : r.value(), r.topic(),
        r.partition(), r.offset(), r.timestamp());
    Header[] headers = r.headers().toArray();
    if (headers.length > 0) {
      String[] names = new String[headers.length];
      byte[][] values = new byte[headers.length][];
      for (int i = 0; i < headers.length; i++) {
        names[i] = headers[i].key();
        values[i] = headers[i].value() == null ? new byte[0] : headers[i].value();
      }
      in.withHeaders(names, values);
    }
    return in;
  }

  @Override
  public TypeInformation<KafkaInput> getProducedType() {
    return TypeInformation.of(KafkaInput.class);
  }
}
