package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The control topic's erasure requests: the two valid forms, and every way a record is refused. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ControlRecordsTest {
  private static KafkaInput in(String value) {
    return in(value.getBytes(StandardCharsets.UTF_8));
  }

  private static KafkaInput in(byte[] value) {
    return new KafkaInput("a".getBytes(StandardCharsets.UTF_8), value, "bonestream.control", 1, 77, 1_000);
  }

  /** The refusal's message, after checking its reason. */
  private static String refused(String value) {
    return refused(in(value));
  }

  private static String refused(KafkaInput in) {
    Rejected r = assertThrows(Rejected.class, () -> ControlRecords.decode(in));
    assertEquals(DeadLetterReason.INVALID_CONTROL_RECORD, r.reason());
    return r.getMessage();
  }

  @Test
  void anErasureByExampleId() throws Exception {
    TrainingItem i = ControlRecords.decode(in("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"}"));
    assertTrue(i.isErasure());
    assertEquals("a", i.adapterId);
    assertEquals("x", i.eraseExampleId);
    assertNull(i.eraseUserId);
    assertFalse(i.eraseRetrain);
    assertEquals("bonestream.control", i.topic);
    assertEquals(1, i.partition);
    assertEquals(77, i.offset);
  }

  @Test
  void anErasureByUserIdWithRetrain() throws Exception {
    TrainingItem i = ControlRecords.decode(in(
        "{\"type\": \"erase\", \"adapter_id\": \"tenant-7\", \"user_id\": \"u-42\", \"retrain\": true}"));
    assertTrue(i.isErasure());
    assertEquals("tenant-7", i.adapterId);
    assertNull(i.eraseExampleId);
    assertEquals("u-42", i.eraseUserId);
    assertTrue(i.eraseRetrain);
    assertFalse(ControlRecords.decode(in("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": \"u\", "
        + "\"retrain\": false}")).eraseRetrain);
  }

  @Test
  void whatTheClientWritesIsWhatTheJobReads() throws Exception {
    TrainingItem i = ControlRecords.decode(in(ControlRecords.erase("a", null, "ü-1", true)));
    assertEquals("ü-1", i.eraseUserId);
    assertTrue(i.eraseRetrain);
    assertEquals("{\"type\":\"erase\",\"adapter_id\":\"a\",\"example_id\":\"x\"}",
        new String(ControlRecords.erase("a", "x", null, false), StandardCharsets.UTF_8));
    assertNull(ControlRecords.problem("a", "x", null));
    assertTrue(ControlRecords.problem("a", "x", "u").contains("one of the two"));
    assertTrue(ControlRecords.problem("a", null, null).contains("one of the two"));
    assertTrue(ControlRecords.problem("a", "", null).contains("empty"));
    assertTrue(ControlRecords.problem("a", null, "u".repeat(257)).contains("over the limit of 256"));
    assertTrue(ControlRecords.problem("../a", "x", null).contains("adapter id"));
    assertEquals(null, ControlRecords.problem(io.bonestream.operators.EveryAdapter.ID, null, "u"));
    assertEquals(io.bonestream.operators.EveryAdapter.ID, ControlRecords.decode(in(new String(
        ControlRecords.erase(io.bonestream.operators.EveryAdapter.ID, null, "u", false)))).adapterId);
  }

  @Test
  void bothIdsOrNeitherAreRefused() {
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\", \"user_id\": \"u\"}")
        .contains("not both"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\"}").contains("example_id or a user_id"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": null}").contains("example_id or a user_id"));
  }

  @Test
  void emptyAndOverlongIdsAreRefused() {
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"\"}").contains("empty example_id"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": \"\"}").contains("empty user_id"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": \"" + "u".repeat(257) + "\"}")
        .contains("257 characters"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"" + "x".repeat(257) + "\"}")
        .contains("over the limit of 256"));
    assertEquals(256, ControlRecords.MAX_ID_CHARS);
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"\", \"example_id\": \"x\"}").contains("adapter_id"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"../a\", \"example_id\": \"x\"}").contains("adapter_id"));
    // "*" alone names every adapter; a reserved key of the job's copies is not an adapter id
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"*128/0\", \"user_id\": \"u\"}")
        .contains("nor * (every adapter)"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"**\", \"user_id\": \"u\"}").contains("adapter_id"));
    assertTrue(refused("{\"type\": \"erase\", \"example_id\": \"x\"}").contains("no adapter_id"));
  }

  @Test
  void unknownFieldsAndTypesAreRefused() {
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\", \"reason\": \"gdpr\"}")
        .contains("unknown field 'reason'"));
    assertTrue(refused("{\"type\": \"forget\", \"adapter_id\": \"a\", \"example_id\": \"x\"}").contains("unknown type"));
    assertTrue(refused("{\"adapter_id\": \"a\", \"example_id\": \"x\"}").contains("no type"));
  }

  @Test
  void wrongValueTypesAreRefused() {
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": 17}").contains("example_id is text"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": 7, \"example_id\": \"x\"}").contains("adapter_id is text"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": [\"u\"]}").contains("user_id is text"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": \"u\", \"retrain\": \"yes\"}")
        .contains("retrain is true or false"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"user_id\": \"u\", \"retrain\": 1}")
        .contains("retrain is true or false"));
    assertTrue(refused("{\"type\": true, \"adapter_id\": \"a\", \"user_id\": \"u\"}").contains("type is text"));
  }

  @Test
  void notJsonIsRefused() {
    assertTrue(refused("erase a x").contains("not JSON"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"").contains("not JSON"));
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"} {}").contains("not JSON"));
    assertTrue(refused("{\"type\": \"erase\", \"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"}")
        .contains("not JSON"), "duplicate keys");
    assertTrue(refused("[\"erase\"]").contains("JSON object"));
    assertTrue(refused("\"erase\"").contains("JSON object"));
    refused(in(new byte[] {'{', '"', (byte) 0xC3, '"', ':', '1', '}'}));
    assertTrue(refused(in(new byte[0])).contains("without a value"));
    assertTrue(refused(new KafkaInput(null, null, "bonestream.control", 0, 0, 0)).contains("without a value"));
  }

  @Test
  void oversizeRecordsAreRefusedBeforeParsing() throws Exception {
    String pad = " ".repeat(ControlRecords.MAX_RECORD_BYTES);
    assertTrue(refused("{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"}" + pad)
        .contains("over the control record limit of 65536"));
    String fits = "{\"type\": \"erase\", \"adapter_id\": \"a\", \"example_id\": \"x\"}";
    assertEquals("x", ControlRecords.decode(in(fits + " ".repeat(ControlRecords.MAX_RECORD_BYTES - fits.length())))
        .eraseExampleId, "exactly at the limit");
  }
}
