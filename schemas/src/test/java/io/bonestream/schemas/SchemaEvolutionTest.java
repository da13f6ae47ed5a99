package io.bonestream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Each schema's next version (in test resources: one new optional field with a default) stays
 * backward compatible (new readers read old data) and forward compatible (old readers read new
 * data); and a record of an unknown version is refused cleanly, for the job to dead-letter it.
 */
class SchemaEvolutionTest {
  private static Schema current(String name) {
    return switch (name) {
      case "InstructionRecord" -> InstructionRecord.getClassSchema();
      case "AdapterSnapshot" -> AdapterSnapshot.getClassSchema();
      case "DeadLetter" -> DeadLetter.getClassSchema();
      default -> throw new IllegalArgumentException(name);
    };
  }

  private static Schema next(String name) throws Exception {
    try (InputStream in = SchemaEvolutionTest.class.getResourceAsStream("/next/" + name + ".avsc")) {
      return new Schema.Parser().parse(in);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"InstructionRecord", "AdapterSnapshot", "DeadLetter"})
  void nextVersionIsBackwardAndForwardCompatible(String name) throws Exception {
    Schema v1 = current(name);
    Schema v2 = next(name);
    assertNotEquals(SchemaNormalization.parsingFingerprint64(v1), SchemaNormalization.parsingFingerprint64(v2));
    assertEquals(SchemaCompatibilityType.COMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(v2, v1).getType(), "backward");
    assertEquals(SchemaCompatibilityType.COMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(v1, v2).getType(), "forward");
  }

  @Test
  void aRemovedRequiredFieldWouldBeCaught() throws Exception {
    // the check can fail: a reader that needs a field without default cannot read data without it
    Schema v1 = current("InstructionRecord");
    List<Schema.Field> fields = v1.getFields().stream().filter(f -> !f.name().equals("example_id"))
        .map(f -> new Schema.Field(f, f.schema())).toList();
    Schema broken = Schema.createRecord(v1.getName(), null, v1.getNamespace(), false, fields);
    assertEquals(SchemaCompatibilityType.INCOMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(v1, broken).getType());
  }

  @Test
  void singleObjectEncodingRoundTripsAndRefusesUnknownFingerprints() throws Exception {
    InstructionRecord r = InstructionRecord.newBuilder().setAdapterId("a").setExampleId("1")
        .setPrompt("Hi").setResponse("Hello").setEventTime(Instant.ofEpochMilli(1234)).build();
    assertEquals(r, InstructionRecord.getDecoder().decode(InstructionRecord.getEncoder().encode(r)));
    GenericRecord future = new GenericData.Record(next("InstructionRecord"));
    future.put("adapter_id", "a");
    future.put("example_id", "1");
    future.put("metadata", Map.of());
    future.put("priority", 2);
    ByteBuffer bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), next("InstructionRecord")).encode(future);
    assertThrows(MissingSchemaException.class, () -> InstructionRecord.getDecoder().decode(bytes));
  }

  @Test
  void snapshotCarriesEitherPayload() throws Exception {
    AdapterSnapshot.Builder b = AdapterSnapshot.newBuilder().setAdapterId("a").setVersion(1)
        .setCreatedAt(Instant.ofEpochMilli(5))
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("0".repeat(64)).build())
        .setTokenizerSha256("1".repeat(64)).setMethod("bone").setPeftType("MISS").setR(8)
        .setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(1).setTokens(2).setExamples(3).setSkippedSteps(0)
            .setLastLoss(1.5).setLossEma(1.5).build())
        .setLineage(List.of(OffsetRange.newBuilder().setTopic("t").setPartition(0).setFirstOffset(0)
            .setLastOffset(9).setRecords(10).build()));
    AdapterSnapshot inline = b.setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
        .setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {1, 2})).build()).build();
    AdapterSnapshot claim = b.setPayload(ClaimCheck.newBuilder().setUri("file:///x").setSize(2)
        .setSha256("a").setConfigSha256("b").build()).build();
    for (AdapterSnapshot s : List.of(inline, claim)) {
      assertEquals(s, AdapterSnapshot.getDecoder().decode(AdapterSnapshot.getEncoder().encode(s)));
    }
  }
}
