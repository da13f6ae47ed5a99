package io.bonestream.operators.decode;

import static io.bonestream.operators.decode.DecodeTests.avro;
import static io.bonestream.operators.decode.DecodeTests.refusal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordShape;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Several inputs at once: each record is read as its topic's input says (format, shape, field
 * names), its adapter id, example id, weight and event time taken from the field, key, header,
 * constant or Kafka timestamp configured; every way a value can be wrong has its reason.
 */
class DecodeInputsTest {
  private static SharedModels.Loaded model;
  private static ExampleEncoder encoder;

  @BeforeAll
  static void load() {
    model = SharedModels.acquire(TestFiles.stories260K());
    encoder = new ExampleEncoder(model.tokenizer(), 64, model.model().config().vocabSize());
  }

  @AfterAll
  static void release() {
    SharedModels.release(TestFiles.stories260K());
  }

  private static DecodeInstructions decoder(InputSpec... inputs) {
    return DecodeTests.decoder(model, inputs);
  }

  private static KafkaInput in(String topic, String key, String value) {
    return new KafkaInput(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), topic, 2, 41, 1_700_000_000_123L);
  }


  @Test
  void threeTopicsInThreeShapesAndFormats() throws Exception {
    DecodeInstructions d = decoder(
        InputSpec.avro("avro-topic"),
        InputSpec.builder().topic("chats").format(InputFormat.JSON).adapterId(new ValueSource.Key()).build(),
        InputSpec.builder().topicPattern("tickets-.*").format(InputFormat.JSON)
            .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer")))
            .adapterId(new ValueSource.Constant("support")).build());
    TrainingItem a = d.decode(new KafkaInput(null, avro(InstructionRecord.newBuilder().setAdapterId("colors")
        .setExampleId("e1").setPrompt("What color is the ball?").setResponse("Red.").build()),
        "avro-topic", 0, 3, 0));
    assertEquals("colors", a.adapterId);
    assertEquals("e1", a.exampleId);
    Example expected = encoder.promptResponse(null, "What color is the ball?", "Red.");
    assertArrayEquals(expected.inputIds(), a.inputIds);

    TrainingItem c = d.decode(in("chats", "tenant-7", "{\"conversations\": [{\"from\": \"human\", "
        + "\"value\": \"What color is the ball?\"}, {\"from\": \"gpt\", \"value\": \"Red.\"}]}"));
    assertEquals("tenant-7", c.adapterId);
    assertEquals("chats/2/41", c.exampleId, "without an example id: where the record was read");
    assertEquals(Long.MIN_VALUE, c.eventTime);
    assertEquals(1f, c.weight);

    TrainingItem t = d.decode(in("tickets-eu", null, "{\"question\": \"What color is the ball?\", \"answer\": \"Red.\", "
        + "\"example_id\": \"t-9\", \"weight\": 2.5, \"event_time\": \"2026-01-31T12:00:00Z\"}"));
    assertEquals("support", t.adapterId);
    assertEquals("t-9", t.exampleId);
    assertEquals(2.5f, t.weight);
    assertEquals(Instant.parse("2026-01-31T12:00:00Z").toEpochMilli(), t.eventTime);
    assertArrayEquals(expected.inputIds(), t.inputIds);
    assertArrayEquals(expected.labels(), t.labels);

    assertEquals(DeadLetterReason.UNKNOWN_TOPIC, refusal(d, in("elsewhere", null, "{}")));
    // a JSON record on the Avro topic, an Avro record on a JSON topic
    assertEquals(DeadLetterReason.NOT_AVRO, refusal(d, in("avro-topic", null, "{\"prompt\": \"a\", \"response\": \"b\"}")));
    assertEquals(DeadLetterReason.NOT_JSON, refusal(d, new KafkaInput("k".getBytes(StandardCharsets.UTF_8),
        avro(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e").setPrompt("p").setResponse("r").build()),
        "chats", 0, 0, 0)));
  }

  @Test
  void valuesFromHeadersFieldsAndTheKafkaTimestamp() throws Exception {
    DecodeInstructions d = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .adapterId(new ValueSource.Header("x-adapter")).exampleId(new ValueSource.Field("meta.id"))
        .weight(new ValueSource.Header("x-weight")).eventTime(new ValueSource.KafkaTimestamp()).build());
    KafkaInput in = in("t", null, "{\"prompt\": \"Hi\", \"response\": \"Yo\", \"meta\": {\"id\": 17}}")
        .withHeaders(new String[] {"x-adapter", "x-adapter", "x-weight"},
            new byte[][] {"old".getBytes(StandardCharsets.UTF_8), "newest".getBytes(StandardCharsets.UTF_8),
                "0.5".getBytes(StandardCharsets.UTF_8)});
    TrainingItem item = d.decode(in);
    assertEquals("newest", item.adapterId, "the last header of a name wins, as Kafka's lastHeader");
    assertEquals("17", item.exampleId);
    assertEquals(0.5f, item.weight);
    assertEquals(1_700_000_000_123L, item.eventTime);
    // an example id from a header is bounded (the value's size cap does not cover headers)
    assertEquals(DeadLetterReason.INVALID_EXAMPLE_ID, refusal(d, in("t", null, "{\"prompt\": \"Hi\", \"response\": \"Yo\", "
        + "\"meta\": {\"id\": \"" + "x".repeat(257) + "\"}}").withHeaders(new String[] {"x-adapter"},
        new byte[][] {"a".getBytes(StandardCharsets.UTF_8)})));
    // no header: no adapter id
    assertEquals(DeadLetterReason.INVALID_ADAPTER_ID, refusal(d, in("t", null, "{\"prompt\": \"Hi\", \"response\": \"Yo\"}")));
  }

  @Test
  void everyWrongValueHasItsReason() {
    DecodeInstructions d = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON).build());
    String ok = "\"prompt\": \"Hi\", \"response\": \"Yo\"";
    assertEquals(DeadLetterReason.INVALID_ADAPTER_ID, refusal(d, in("t", null, "{" + ok + "}")));
    assertEquals(DeadLetterReason.INVALID_ADAPTER_ID, refusal(d, in("t", null, "{" + ok + ", \"adapter_id\": \"../x\"}")));
    assertEquals(DeadLetterReason.INVALID_WEIGHT, refusal(d, in("t", null, "{" + ok + ", \"adapter_id\": \"a\", \"weight\": -1}")));
    assertEquals(DeadLetterReason.INVALID_WEIGHT, refusal(d, in("t", null, "{" + ok + ", \"adapter_id\": \"a\", \"weight\": \"heavy\"}")));
    assertEquals(DeadLetterReason.INVALID_EVENT_TIME, refusal(d, in("t", null, "{" + ok + ", \"adapter_id\": \"a\", \"event_time\": \"yesterday\"}")));
    assertEquals(DeadLetterReason.INVALID_EVENT_TIME, refusal(d, in("t", null, "{" + ok + ", \"adapter_id\": \"a\", \"event_time\": 1.5}")));
    assertEquals(DeadLetterReason.NOT_JSON, refusal(d, in("t", null, "{" + ok)));
    assertEquals(DeadLetterReason.NOT_JSON, refusal(d, in("t", null, "")));
    assertEquals(DeadLetterReason.NOT_JSON, refusal(d, in("t", null, "[1, 2]")));
    assertEquals(DeadLetterReason.NOT_JSON, refusal(d, new KafkaInput(null, new byte[] {'{', '"', (byte) 0xC3, '"', ':', '1', '}'},
        "t", 0, 0, 0)));
    assertEquals(DeadLetterReason.MISSING_FIELD, refusal(d, in("t", null, "{\"adapter_id\": \"a\", \"question\": \"q\"}")));
    assertEquals(DeadLetterReason.UNSUPPORTED_CONTENT, refusal(d, in("t", null, "{\"adapter_id\": \"a\", \"messages\": "
        + "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}], \"tools\": [{}]}")));
    DecodeInstructions keyed = decoder(InputSpec.builder().topic("t").format(InputFormat.JSON)
        .adapterId(new ValueSource.Key()).build());
    assertEquals(DeadLetterReason.INVALID_ADAPTER_ID, refusal(keyed, new KafkaInput(new byte[] {(byte) 0xFF}, ("{" + ok + "}")
        .getBytes(StandardCharsets.UTF_8), "t", 0, 0, 0)));
  }

  @Test
  void limitsHoldForJsonToo() {
    DecodeInstructions d = new DecodeInstructions(TestFiles.stories260K().toString(), 64, new InputLimits(4096, 3, 100),
        false, List.of(InputSpec.builder().topic("t").format(InputFormat.JSON).adapterId(new ValueSource.Constant("a")).build()));
    d.prepare(model);
    assertEquals(DeadLetterReason.RECORD_TOO_LARGE, refusal(d, in("t", null, "{\"text\": \"" + "a".repeat(5000) + "\"}")));
    assertEquals(DeadLetterReason.TEXT_TOO_LONG, refusal(d, in("t", null, "{\"text\": \"" + "a".repeat(101) + "\"}")));
    String m = "{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}";
    assertEquals(DeadLetterReason.TOO_MANY_MESSAGES, refusal(d, in("t", null, "{\"messages\": [" + m + "," + m + "]}")));
  }

  @Test
  void inputSettingsAreValidatedWhenBuilt() {
    assertThrows(BonestreamException.class, () -> InputSpec.builder().build());
    assertThrows(BonestreamException.class, () -> InputSpec.builder().topic("a").topicPattern("b.*").build());
    assertThrows(BonestreamException.class, () -> InputSpec.builder().topicPattern("(").build());
    assertThrows(BonestreamException.class, () -> InputSpec.builder().topic("a").shape(RecordShape.TEXT).build(),
        "shapes are for json inputs");
    assertThrows(BonestreamException.class, () -> InputSpec.builder().topic("a").format(InputFormat.AVRO_REGISTRY).build());
    assertThrows(BonestreamException.class, () -> InputSpec.builder().topic("a").adapterId(new ValueSource.KafkaTimestamp()).build());
    assertThrows(BonestreamException.class, () -> ValueSource.parse("header:", "adapter-id"));
    assertThrows(BonestreamException.class, () -> ValueSource.parse("column:x", "adapter-id"));
    assertEquals(new ValueSource.Field("a.b"), ValueSource.parse("field:a.b", "x"));
    assertEquals(new ValueSource.Constant("k:v"), ValueSource.parse("constant:k:v", "x"));
    Subscription names = Subscription.of(List.of(InputSpec.avro("a"), InputSpec.builder().topic("b").format(InputFormat.JSON).build()));
    assertEquals(List.of("a", "b"), names.topics());
    Subscription pattern = Subscription.of(List.of(InputSpec.avro("a.b"), InputSpec.builder().topicPattern("t-[0-9]+")
        .format(InputFormat.JSON).build()));
    assertTrue(pattern.pattern().matcher("a.b").matches() && pattern.pattern().matcher("t-12").matches());
    assertTrue(!pattern.pattern().matcher("axb").matches() && !pattern.pattern().matcher("t-x").matches(),
        "topic names are quoted, patterns whole");
  }
}
