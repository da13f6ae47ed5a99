package io.bonestream.operators.decode;

import static io.bonestream.operators.decode.DecodeTests.avro;
import static io.bonestream.operators.decode.DecodeTests.refusal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The user an example belongs to (for erasure by user): its metadata's {@code user_id} in every
 * format by default, or wherever the input's {@code user-id} source says; bounded like example ids.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class UserIdDecodeTest {
  private static SharedModels.Loaded model;
  private static final String OK = "\"prompt\": \"Hi\", \"response\": \"Yo\", \"adapter_id\": \"a\"";

  @BeforeAll
  static void load() {
    model = SharedModels.acquire(TestFiles.stories260K());
  }

  @AfterAll
  static void release() {
    SharedModels.release(TestFiles.stories260K());
  }

  private static DecodeInstructions decoder(InputSpec... inputs) {
    return DecodeTests.decoder(model, inputs);
  }

  private static KafkaInput in(String topic, String value) {
    return new KafkaInput(null, value.getBytes(StandardCharsets.UTF_8), topic, 0, 5, 1_000);
  }


  @Test
  void avroRecordsGiveTheirMetadataUserId() throws Exception {
    DecodeInstructions d = decoder(InputSpec.avro("t"));
    InstructionRecord.Builder r = InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e")
        .setPrompt("Hi").setResponse("Yo");
    TrainingItem item = d.decode(new KafkaInput(null, avro(r.setMetadata(Map.of("user_id", "u-1", "lang", "en")).build()),
        "t", 0, 1, 0));
    assertEquals("u-1", item.userId);
    assertNull(d.decode(new KafkaInput(null, avro(r.setMetadata(Map.of()).build()), "t", 0, 2, 0)).userId,
        "no user_id: no user");
    assertEquals(DeadLetterReason.INVALID_USER_ID, refusal(d, new KafkaInput(null,
        avro(r.setMetadata(Map.of("user_id", "u".repeat(257))).build()), "t", 0, 3, 0)));
    assertEquals(DeadLetterReason.INVALID_USER_ID, refusal(d, new KafkaInput(null,
        avro(r.setMetadata(Map.of("user_id", "")).build()), "t", 0, 4, 0)));
    assertEquals("u".repeat(256), d.decode(new KafkaInput(null,
        avro(r.setMetadata(Map.of("user_id", "u".repeat(256))).build()), "t", 0, 5, 0)).userId);
    // an avro input's user-id source may name another metadata key, bare or as metadata.<key>
    DecodeInstructions other = decoder(InputSpec.builder().topic("t").userId(new ValueSource.Field("customer")).build());
    assertEquals("c-9", other.decode(new KafkaInput(null, avro(r.setMetadata(Map.of("customer", "c-9")).build()),
        "t", 0, 6, 0)).userId);
    DecodeInstructions dotted = decoder(InputSpec.builder().topic("t")
        .userId(new ValueSource.Field("metadata.customer")).build());
    assertEquals("c-9", dotted.decode(new KafkaInput(null, avro(r.setMetadata(Map.of("customer", "c-9")).build()),
        "t", 0, 7, 0)).userId);
  }

  @Test
  void jsonRecordsGiveTheirMetadataObjectsUserId() throws Exception {
    DecodeInstructions d = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON).build());
    assertEquals("u-1", d.decode(in("t", "{" + OK + ", \"metadata\": {\"user_id\": \"u-1\", \"lang\": \"en\"}}")).userId);
    assertEquals("1234", d.decode(in("t", "{" + OK + ", \"metadata\": {\"user_id\": 1234}}")).userId,
        "a whole number is a user id too");
    assertNull(d.decode(in("t", "{" + OK + "}")).userId);
    assertNull(d.decode(in("t", "{" + OK + ", \"metadata\": {}}")).userId);
    assertNull(d.decode(in("t", "{" + OK + ", \"metadata\": {\"user_id\": null}}")).userId);
    assertNull(d.decode(in("t", "{" + OK + ", \"user_id\": \"u\"}")).userId, "a top-level user_id is not metadata");
    for (String bad : List.of("\"\"", "\"" + "u".repeat(257) + "\"", "{\"id\": 1}", "[\"u\"]", "true", "1.5")) {
      assertEquals(DeadLetterReason.INVALID_USER_ID, refusal(d, in("t", "{" + OK + ", \"metadata\": {\"user_id\": "
          + bad + "}}")), bad);
    }
  }

  @Test
  void theUserIdSourceMayBeAFieldKeyOrHeader() throws Exception {
    DecodeInstructions field = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .userId(new ValueSource.Field("account.owner")).build());
    assertEquals("o-1", field.decode(in("t", "{" + OK + ", \"account\": {\"owner\": \"o-1\"}}")).userId);
    assertNull(field.decode(in("t", "{" + OK + ", \"metadata\": {\"user_id\": \"u\"}}")).userId,
        "the source replaces the default");

    DecodeInstructions header = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .userId(new ValueSource.Header("x-user")).build());
    KafkaInput withHeader = in("t", "{" + OK + "}").withHeaders(new String[] {"x-user"},
        new byte[][] {"h-7".getBytes(StandardCharsets.UTF_8)});
    assertEquals("h-7", header.decode(withHeader).userId);
    assertEquals(DeadLetterReason.INVALID_USER_ID, refusal(header, in("t", "{" + OK + "}").withHeaders(
        new String[] {"x-user"}, new byte[][] {new byte[] {(byte) 0xFF}})), "not UTF-8");
    assertEquals(DeadLetterReason.INVALID_USER_ID, refusal(header, in("t", "{" + OK + "}").withHeaders(
        new String[] {"x-user"}, new byte[][] {"u".repeat(300).getBytes(StandardCharsets.UTF_8)})),
        "a header is not under the value's size cap");

    DecodeInstructions key = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .userId(new ValueSource.Key()).build());
    KafkaInput keyed = new KafkaInput("k-3".getBytes(StandardCharsets.UTF_8),
        ("{" + OK + "}").getBytes(StandardCharsets.UTF_8), "t", 0, 0, 0);
    assertEquals("k-3", key.decode(keyed).userId);
  }

  @Test
  void kafkaTimestampIsNoUserId() {
    assertThrows(io.bonestream.core.BonestreamException.class, () -> InputSpec.builder().topic("t")
        .userId(new ValueSource.KafkaTimestamp()).build());
    assertTrue(InputSpec.builder().topic("t").build().userId().toString().equals("field:metadata.user_id"));
  }
}
