package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.util.Json;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import org.apache.avro.Conversions;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.junit.jupiter.api.Test;

/** A registry's Avro records as the JSON the record shapes read: every Avro type, and schemas refused. */
class AvroToJsonTest {
  private static final Schema EVERY = new Schema.Parser().parse("""
      {"type": "record", "name": "Every", "namespace": "t", "fields": [
        {"name": "s", "type": "string"}, {"name": "i", "type": "int"}, {"name": "l", "type": "long"},
        {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "b", "type": "boolean"},
        {"name": "n", "type": "null"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "bytes", "type": "bytes"}, {"name": "fixed", "type": {"type": "fixed", "name": "F", "size": 2}},
        {"name": "money", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "millis", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "arr", "type": {"type": "array", "items": "int"}},
        {"name": "map", "type": {"type": "map", "values": "string"}},
        {"name": "u", "type": ["null", "string", {"type": "record", "name": "In", "fields": [{"name": "x", "type": "int"}]}]},
        {"name": "u2", "type": ["null", "string"]}]}""");

  @Test
  void everyAvroTypeBecomesJson() throws Exception {
    GenericRecord r = new GenericData.Record(EVERY);
    r.put("s", new Utf8("text"));
    r.put("i", 7);
    r.put("l", 1L << 40);
    r.put("f", 1.5f);
    r.put("d", 2.25);
    r.put("b", true);
    r.put("n", null);
    r.put("e", new GenericData.EnumSymbol(EVERY.getField("e").schema(), "B"));
    r.put("bytes", ByteBuffer.wrap(new byte[] {1, 2, 3}));
    r.put("fixed", new GenericData.Fixed(EVERY.getField("fixed").schema(), new byte[] {(byte) 0xff, 0}));
    Schema money = EVERY.getField("money").schema();
    r.put("money", new Conversions.DecimalConversion().toBytes(new BigDecimal("12.34"), money, money.getLogicalType()));
    r.put("millis", 1_764_000_000_123L);
    r.put("micros", 1_764_000_000_123_456L);
    r.put("arr", List.of(1, 2));
    r.put("map", Map.of(new Utf8("k"), new Utf8("v")));
    GenericRecord in = new GenericData.Record(EVERY.getField("u").schema().getTypes().get(2));
    in.put("x", 3);
    r.put("u", in);
    r.put("u2", "branch");
    assertEquals(Json.MAPPER.readTree("""
        {"s": "text", "i": 7, "l": 1099511627776, "f": 1.5, "d": 2.25, "b": true, "n": null, "e": "B",
         "bytes": "AQID", "fixed": "/wA=", "money": 12.34, "millis": 1764000000123, "micros": 1764000000123,
         "arr": [1, 2], "map": {"k": "v"}, "u": {"x": 3}, "u2": "branch"}""").toString(), // as text: 1.5 is a float here
        AvroRegistryDecoder.toJson(r, EVERY, 0).toString());
  }

  @Test
  void nestingIsBounded() {
    Schema list = new Schema.Parser().parse("""
        {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}""");
    GenericRecord head = new GenericData.Record(list);
    for (int i = 0; i < 100; i++) {
      GenericRecord n = new GenericData.Record(list);
      n.put("next", head);
      head = n;
    }
    GenericRecord deep = head;
    Rejected r = assertThrows(Rejected.class, () -> AvroRegistryDecoder.toJson(deep, list, 0));
    assertEquals(DeadLetterReason.UNSUPPORTED_CONTENT, r.reason());
  }

  private static String problem(String schema) {
    InputSpec spec = InputSpec.builder().topic("t").format(InputFormat.AVRO_REGISTRY)
        .registry(RegistrySettings.builder("http://localhost").build()).build();
    return new AvroRegistryDecoder(spec).problem(new Schema.Parser().parse(schema), 9);
  }

  @Test
  void schemasWhoseRecordsCanNeverBeReadAreFoundOnce() {
    assertNull(problem("""
        {"type": "record", "name": "Ok", "fields": [{"name": "adapter_id", "type": "string"},
          {"name": "text", "type": ["null", "string"]}]}"""));
    assertEquals("schema string (id 9) is a string, not a record", problem("\"string\""));
    assertEquals("schema Half (id 9) has fields [adapter_id, prompt]; the input reads records with one of messages, "
        + "conversations, input_ids+labels, instruction+output, prompt+completion, prompt+response, text", problem("""
        {"type": "record", "name": "Half", "fields": [{"name": "adapter_id", "type": "string"},
          {"name": "prompt", "type": "string"}]}"""));
    String zero = problem("""
        {"type": "record", "name": "Z", "fields": [{"name": "adapter_id", "type": "string"},
          {"name": "text", "type": "string"}, {"name": "pad", "type": {"type": "array", "items": "null"}}]}""");
    assertTrue(zero != null && zero.contains("an array of null, whose items take no bytes"), zero);
  }

  @Test
  void nestedPathsAreFollowedThroughUnions() {
    Schema s = new Schema.Parser().parse("""
        {"type": "record", "name": "Env", "fields": [{"name": "payload", "type": ["null",
          {"type": "record", "name": "P", "fields": [{"name": "q", "type": "string"}]}]},
          {"name": "meta", "type": {"type": "map", "values": "string"}}]}""");
    assertTrue(AvroRegistryDecoder.has(s, "payload.q"));
    assertTrue(AvroRegistryDecoder.has(s, "meta.anything"));
    assertTrue(!AvroRegistryDecoder.has(s, "payload.r"));
  }
}
