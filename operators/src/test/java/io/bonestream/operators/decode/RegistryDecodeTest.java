package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.InstructionRecord;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * avro-registry inputs against a real registry (Apicurio Registry, started by the test, through its
 * Confluent-compatible API): writers' schemas that are not {@code InstructionRecord} mapped by
 * field names, InstructionRecord's own, a chat; each accepted record must give what the same record
 * gives as JSON (or, for InstructionRecord, as the plain Avro input). Unknown ids, unframed and
 * corrupt bytes, incompatible schemas and a registry stopped mid-way are dead letters with their
 * reasons, within a time bound.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RegistryDecodeTest {
  private static final Schema TICKET = new Schema.Parser().parse("""
      {"type": "record", "name": "SupportTicket", "namespace": "com.example.support", "fields": [
        {"name": "question", "type": "string"},
        {"name": "answer", "type": "string"},
        {"name": "tenant", "type": "string"},
        {"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "priority", "type": ["null", "int"], "default": null}]}""");
  private static final Schema CHAT = new Schema.Parser().parse("""
      {"type": "record", "name": "Conversation", "namespace": "com.example.chat", "fields": [
        {"name": "tenant", "type": "string"},
        {"name": "messages", "type": {"type": "array", "items": {"type": "record", "name": "Turn", "fields": [
          {"name": "role", "type": {"type": "enum", "name": "Role", "symbols": ["system", "user", "assistant"]}},
          {"name": "content", "type": "string"}]}}}]}""");
  private static final Schema INVOICE = new Schema.Parser().parse("""
      {"type": "record", "name": "Invoice", "namespace": "com.example.billing", "fields": [
        {"name": "amount", "type": "double"}, {"name": "currency", "type": "string"}]}""");

  private static final String LINE = """
      {"type": "record", "name": "Line", "namespace": "com.example.ref", "fields": [
        {"name": "role", "type": "string"}, {"name": "content", "type": "string"}]}""";
  private static final String THREAD = """
      {"type": "record", "name": "Thread", "namespace": "com.example.ref", "fields": [
        {"name": "tenant", "type": "string"},
        {"name": "messages", "type": {"type": "array", "items": "com.example.ref.Line"}}]}""";

  private static TestRegistry registry;
  private static SharedModels.Loaded model;
  private static int ticketId;
  private static int chatId;
  private static int instructionId;
  private static int invoiceId;
  private static int protobufId;
  private static int threadId;

  @BeforeAll
  static void start() throws Exception {
    model = SharedModels.acquire(TestFiles.stories260K());
    registry = TestRegistry.start();
    ticketId = registry.register("tickets-value", TICKET.toString());
    chatId = registry.register("chats-value", CHAT.toString());
    instructionId = registry.register("instructions-value", InstructionRecord.getClassSchema().toString());
    invoiceId = registry.register("invoices-value", INVOICE.toString());
    protobufId = registry.register("proto-value", "syntax = \"proto3\"; message M { string a = 1; }", "PROTOBUF");
    registry.register("line-value", LINE);
    threadId = registry.registerReferencing("threads-value", THREAD, "com.example.ref.Line", "line-value");
  }

  @AfterAll
  static void stop() throws Exception {
    if (registry != null) {
      registry.close();
    }
    SharedModels.release(TestFiles.stories260K());
  }

  private static RegistrySettings.Builder settings() {
    return RegistrySettings.builder(registry.url()).timeout(Duration.ofSeconds(2)).retries(2)
        .backoff(Duration.ofMillis(100));
  }

  /** A decoder reading topic "reg" as {@code spec} says, and topic "json" the same way but as JSON. */
  private static DecodeInstructions decoder(InputSpec.Builder spec) {
    InputSpec reg = spec.topics(List.of("reg")).format(InputFormat.AVRO_REGISTRY).build();
    InputSpec json = reg.toBuilder().topics(List.of("json")).format(InputFormat.JSON).registry(null).build();
    DecodeInstructions d = new DecodeInstructions(TestFiles.stories260K().toString(), 64, InputLimits.DEFAULT, false,
        List.of(reg, json));
    d.prepare(model);
    return d;
  }

  private static DecodeInstructions decoder() {
    return decoder(InputSpec.builder().registry(settings().build()));
  }

  static byte[] framed(int id, Schema schema, Object datum) throws Exception {
    return framed(id, datum, new GenericDatumWriter<>(schema));
  }

  static byte[] framed(int id, Object datum, DatumWriter<Object> writer) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.write(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
    writer.write(datum, e);
    e.flush();
    return out.toByteArray();
  }

  /** The Confluent header for {@code id}, then {@code body}. */
  static byte[] frame(int id, byte[] body) {
    return ByteBuffer.allocate(5 + body.length).put((byte) 0).putInt(id).put(body).array();
  }

  private static KafkaInput in(String topic, byte[] value) {
    return new KafkaInput(null, value, topic, 0, 42, 1_000);
  }

  private static String rejected(DecodeInstructions d, byte[] value) {
    try {
      TrainingItem item = d.decode(in("reg", value));
      return fail("accepted, as adapter " + item.adapterId);
    } catch (Rejected r) {
      return r.reason() + ": " + r.getMessage();
    }
  }

  private static void assertSame(TrainingItem expected, TrainingItem actual) {
    assertEquals(expected.adapterId, actual.adapterId);
    assertArrayEquals(expected.inputIds, actual.inputIds);
    assertArrayEquals(expected.labels, actual.labels);
    assertEquals(expected.weight, actual.weight);
    assertEquals(expected.eventTime, actual.eventTime);
  }

  @Test
  @Order(1)
  void aSupportTicketIsReadThroughTheFieldMapping() throws Exception {
    DecodeInstructions d = decoder(InputSpec.builder().registry(settings().build())
        .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer")))
        .adapterId(new ValueSource.Field("tenant")).eventTime(new ValueSource.Field("created")));
    long created = Instant.parse("2026-11-30T09:15:00Z").toEpochMilli();
    GenericRecord t = new GenericData.Record(TICKET);
    t.put("question", "What color is the ball?");
    t.put("answer", "The ball is red.");
    t.put("tenant", "acme-support");
    t.put("created", created);
    t.put("priority", 2);
    TrainingItem item = d.decode(in("reg", framed(ticketId, TICKET, t)));
    assertEquals("acme-support", item.adapterId);
    assertEquals(created, item.eventTime);
    assertEquals("reg/0/42", item.exampleId);
    String json = """
        {"question": "What color is the ball?", "answer": "The ball is red.", "tenant": "acme-support",
         "created": %d}""".formatted(created);
    assertSame(d.decode(in("json", json.getBytes(StandardCharsets.UTF_8))), item);
    assertTrue(item.inputIds.length > 8 && Arrays.stream(item.labels).anyMatch(l -> l >= 0));
  }

  @Test
  @Order(2)
  void anInstructionRecordGivesWhatThePlainAvroInputGives() throws Exception {
    InstructionRecord r = InstructionRecord.newBuilder().setAdapterId("colors").setExampleId("e7")
        .setPrompt("What color is the sky?").setResponse("The sky is blue.").setWeight(2f)
        .setEventTime(Instant.ofEpochMilli(1_764_000_000_000L)).build();
    @SuppressWarnings({"unchecked", "rawtypes"})
    DatumWriter<Object> w = (DatumWriter) new SpecificDatumWriter<>(InstructionRecord.class);
    TrainingItem item = decoder().decode(in("reg", framed(instructionId, r, w)));
    ByteBuffer b = InstructionRecord.getEncoder().encode(r);
    byte[] plain = new byte[b.remaining()];
    b.get(plain);
    DecodeInstructions avro = new DecodeInstructions(TestFiles.stories260K().toString(), 64);
    avro.prepare(model);
    TrainingItem expected = avro.decode(in("instructions", plain));
    assertSame(expected, item);
    assertEquals("e7", item.exampleId);
    assertEquals(2f, item.weight);
    assertEquals(1_764_000_000_000L, item.eventTime);
  }

  @Test
  @Order(3)
  void aChatWithEnumRolesIsReadAsAChat() throws Exception {
    DecodeInstructions d = decoder(InputSpec.builder().registry(settings().build())
        .adapterId(new ValueSource.Field("tenant")));
    Schema turn = CHAT.getField("messages").schema().getElementType();
    Schema role = turn.getField("role").schema();
    GenericRecord c = new GenericData.Record(CHAT);
    c.put("tenant", "chatty");
    c.put("messages", List.of(message(turn, role, "system", "Be brief."), message(turn, role, "user", "Hi there!"),
        message(turn, role, "assistant", "Hello. How can I help?")));
    TrainingItem item = d.decode(in("reg", framed(chatId, CHAT, c)));
    String json = """
        {"tenant": "chatty", "messages": [{"role": "system", "content": "Be brief."},
          {"role": "user", "content": "Hi there!"}, {"role": "assistant", "content": "Hello. How can I help?"}]}""";
    assertSame(d.decode(in("json", json.getBytes(StandardCharsets.UTF_8))), item);
    assertEquals("chatty", item.adapterId);
  }

  @Test
  @Order(3)
  void aSchemaReferencingAnotherSubjectsTypeIsResolved() throws Exception {
    Schema.Parser parser = new Schema.Parser();
    Schema line = parser.parse(LINE);
    Schema thread = parser.parse(THREAD);
    DecodeInstructions d = decoder(InputSpec.builder().registry(settings().build())
        .adapterId(new ValueSource.Field("tenant")));
    GenericRecord t = new GenericData.Record(thread);
    t.put("tenant", "threads");
    GenericRecord q = new GenericData.Record(line);
    q.put("role", "user");
    q.put("content", "Is the sky blue?");
    GenericRecord a = new GenericData.Record(line);
    a.put("role", "assistant");
    a.put("content", "Yes, on a clear day.");
    t.put("messages", List.of(q, a));
    TrainingItem item = d.decode(in("reg", framed(threadId, thread, t)));
    String json = """
        {"tenant": "threads", "messages": [{"role": "user", "content": "Is the sky blue?"},
          {"role": "assistant", "content": "Yes, on a clear day."}]}""";
    assertSame(d.decode(in("json", json.getBytes(StandardCharsets.UTF_8))), item);
  }

  private static GenericRecord message(Schema turn, Schema role, String r, String content) {
    GenericRecord m = new GenericData.Record(turn);
    m.put("role", new GenericData.EnumSymbol(role, r));
    m.put("content", content);
    return m;
  }

  @Test
  @Order(4)
  void anUnknownSchemaIdIsADeadLetter() throws Exception {
    String r = rejected(decoder(), frame(0x7f33, new byte[] {2, 'a'}));
    assertTrue(r.startsWith("UNKNOWN_SCHEMA_ID: schema id 32563 is not in the registry at " + registry.url()), r);
  }

  @Test
  @Order(5)
  void bytesWithoutTheWireFormatAreDeadLetters() throws Exception {
    DecodeInstructions d = decoder();
    GenericRecord t = ticket();
    byte[] good = framed(ticketId, TICKET, t);
    byte[] noMagic = good.clone();
    noMagic[0] = 1;
    assertTrue(rejected(d, noMagic).startsWith("NOT_REGISTRY_FRAMED: first byte 0x01"), rejected(d, noMagic));
    assertTrue(rejected(d, new byte[] {0, 0, 1}).startsWith("NOT_REGISTRY_FRAMED: 3 bytes"));
    assertTrue(rejected(d, new byte[0]).startsWith("NOT_REGISTRY_FRAMED"));
    // a plain Avro InstructionRecord (single-object encoding: C3 01 ...) sent to a registry topic
    ByteBuffer b = InstructionRecord.getEncoder().encode(InstructionRecord.newBuilder().setAdapterId("a").setExampleId("e")
        .setPrompt("p").setResponse("r").build());
    byte[] single = new byte[b.remaining()];
    b.get(single);
    assertTrue(rejected(d, single).startsWith("NOT_REGISTRY_FRAMED: first byte 0xc3"), rejected(d, single));
  }

  private static GenericRecord ticket() {
    GenericRecord t = new GenericData.Record(TICKET);
    t.put("question", "Why?");
    t.put("answer", "Because.");
    t.put("tenant", "acme");
    t.put("created", 5L);
    return t;
  }

  @Test
  @Order(6)
  void aCorruptPayloadIsADeadLetter() throws Exception {
    DecodeInstructions d = decoder(InputSpec.builder().registry(settings().build())
        .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer")))
        .adapterId(new ValueSource.Field("tenant")));
    byte[] good = framed(ticketId, TICKET, ticket());
    d.decode(in("reg", good)); // valid as written
    byte[] truncated = Arrays.copyOf(good, good.length - 3);
    assertTrue(rejected(d, truncated).startsWith("NOT_AVRO: corrupt Avro payload for schema id " + ticketId),
        rejected(d, truncated));
    byte[] longer = Arrays.copyOf(good, good.length + 4);
    assertTrue(rejected(d, longer).startsWith("NOT_AVRO: bytes left over"), rejected(d, longer));
    byte[] hugeLength = good.clone();
    hugeLength[5] = (byte) 0xfe; // the first string's length: a varint far past the record's end
    hugeLength[6] = (byte) 0xff;
    assertTrue(rejected(d, hugeLength).startsWith("NOT_AVRO"), rejected(d, hugeLength));
    // every truncation and every single-byte flip is a training item or a dead letter, nothing else
    for (int i = 5; i < good.length; i++) {
      for (int bit = 0; bit < 8; bit++) {
        byte[] m = good.clone();
        m[i] ^= (byte) (1 << bit);
        try {
          d.decode(in("reg", m));
        } catch (Rejected expected) {
          // a reason, as required
        }
      }
      try {
        d.decode(in("reg", Arrays.copyOf(good, i)));
      } catch (Rejected expected) {
        // a reason, as required
      }
    }
  }

  @Test
  @Order(7)
  void aSchemaNoShapeReadsIsIncompatible() throws Exception {
    DecodeInstructions d = decoder();
    GenericRecord inv = new GenericData.Record(INVOICE);
    inv.put("amount", 12.5);
    inv.put("currency", "EUR");
    String r = rejected(d, framed(invoiceId, INVOICE, inv));
    assertTrue(r.startsWith("INCOMPATIBLE_SCHEMA: schema com.example.billing.Invoice (id " + invoiceId
        + ") has fields [amount, currency]; the input reads records with one of messages, "), r);
    // the ticket without its field mapping: no prompt, no response
    String t = rejected(d, framed(ticketId, TICKET, ticket()));
    assertTrue(t.startsWith("INCOMPATIBLE_SCHEMA: schema com.example.support.SupportTicket"), t);
    // mapped, but the adapter id's field is not in the schema
    DecodeInstructions mapped = decoder(InputSpec.builder().registry(settings().build())
        .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer"))));
    String a = rejected(mapped, framed(ticketId, TICKET, ticket()));
    assertTrue(a.contains("none for the adapter id (field:adapter_id)"), a);
    // a Protobuf schema
    String p = rejected(d, frame(protobufId, new byte[] {2, 'a'}));
    assertTrue(p.startsWith("INCOMPATIBLE_SCHEMA: schema id " + protobufId + " is a PROTOBUF schema"), p);
  }

  @Test
  @Order(8)
  @org.junit.jupiter.api.Timeout(60)
  void anInstructionRecordsMetadataUserIdIsItsUser() throws Exception {
    InstructionRecord r = InstructionRecord.newBuilder().setAdapterId("colors").setExampleId("e8")
        .setPrompt("What color is the sky?").setResponse("The sky is blue.")
        .setMetadata(Map.of("user_id", "u-8")).build();
    @SuppressWarnings({"unchecked", "rawtypes"})
    DatumWriter<Object> w = (DatumWriter) new SpecificDatumWriter<>(InstructionRecord.class);
    assertEquals("u-8", decoder().decode(in("reg", framed(instructionId, r, w))).userId);
    InstructionRecord none = InstructionRecord.newBuilder(r).setMetadata(Map.of()).build();
    assertEquals(null, decoder().decode(in("reg", framed(instructionId, none, w))).userId);
  }

  @Test
  @Order(100) // stops the registry
  void aStoppedRegistryGivesDeadLettersWithinTheBoundAndCachedSchemasStillDecode() throws Exception {
    RegistrySettings s = settings().timeout(Duration.ofSeconds(1)).build();
    DecodeInstructions d = decoder(InputSpec.builder().registry(s)
        .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer")))
        .adapterId(new ValueSource.Field("tenant")));
    byte[] ticketBytes = framed(ticketId, TICKET, ticket());
    d.decode(in("reg", ticketBytes));
    registry.close();

    assertEquals("acme", d.decode(in("reg", ticketBytes)).adapterId, "a cached schema decodes while the registry is down");
    GenericRecord c = new GenericData.Record(CHAT); // a registered id this decoder has not seen
    c.put("tenant", "t");
    c.put("messages", List.of());
    byte[] chatBytes = framed(chatId, CHAT, c);
    long t0 = System.nanoTime();
    String r = rejected(d, chatBytes);
    Duration took = Duration.ofNanos(System.nanoTime() - t0);
    assertTrue(r.startsWith("REGISTRY_UNAVAILABLE: schema registry " + registry.url() + " unavailable after 3 attempt(s): "),
        r);
    assertTrue(took.compareTo(s.worstCaseLookup().plusSeconds(2)) < 0, "took " + took);
    t0 = System.nanoTime();
    String again = rejected(d, chatBytes);
    took = Duration.ofNanos(System.nanoTime() - t0);
    assertTrue(again.startsWith("REGISTRY_UNAVAILABLE") && again.contains("not asked again"), again);
    assertTrue(took.toMillis() < 500, "the second lookup waited " + took);
  }
}
