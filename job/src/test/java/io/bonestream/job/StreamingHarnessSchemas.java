package io.bonestream.job;

import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;

/** Records written with a schema this build does not know. */
final class StreamingHarnessSchemas {
  private StreamingHarnessSchemas() {}

  /** An InstructionRecord of a future schema version (one more field): an unknown fingerprint. */
  static byte[] futureVersionBytes() {
    Schema v1 = InstructionRecord.getClassSchema();
    Schema v2 = new Schema.Parser().parse(v1.toString().replace("\"fields\":[",
        "\"fields\":[{\"name\":\"priority\",\"type\":\"int\",\"default\":0},"));
    GenericRecord r = new GenericData.Record(v2);
    r.put("priority", 3);
    r.put("adapter_id", "good");
    r.put("example_id", "future");
    r.put("prompt", "Hi");
    r.put("response", "Hello.");
    r.put("metadata", java.util.Map.of());
    try {
      ByteBuffer b = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v2).encode(r);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
