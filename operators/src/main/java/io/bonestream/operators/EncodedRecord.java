package io.bonestream.operators;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * A Kafka record ready to send: key and Avro single-object encoded value. Operators pass these
 * rather than Avro objects, so Flink moves plain bytes between them.
 */
public class EncodedRecord {
  public byte[] key;
  public byte[] value;

  public EncodedRecord() {}

  public EncodedRecord(byte[] key, byte[] value) {
    this.key = key;
    this.value = value;
  }

  /** Keyed by a string, e.g. the adapter id. */
  public static EncodedRecord of(String key, SpecificRecordBase value) {
    return new EncodedRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8), singleObject(value));
  }

  public static byte[] singleObject(SpecificRecordBase record) {
    try {
      var encoder = new org.apache.avro.message.BinaryMessageEncoder<SpecificRecordBase>(
          record.getSpecificData(), record.getSchema());
      ByteBuffer b = encoder.encode(record);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
