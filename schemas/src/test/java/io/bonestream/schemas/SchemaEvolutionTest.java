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

  @Test
  void manifestsOfEverySchemaVersionStayReadable() throws Exception {
    // a compacted adapters topic keeps manifests written by earlier releases
    Schema v1 = AdapterSnapshots.schemaVersion(1);
    assertEquals(SchemaCompatibilityType.COMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(AdapterSnapshot.getClassSchema(), v1).getType());
    GenericRecord old = new GenericData.Record(v1);
    old.put("adapter_id", "a");
    old.put("version", 7L);
    old.put("created_at", 5L);
    GenericRecord base = new GenericData.Record(v1.getField("base_model").schema());
    base.put("name", "m");
    base.put("weights_sha256", "0".repeat(64));
    old.put("base_model", base);
    old.put("tokenizer_sha256", "1".repeat(64));
    old.put("method", "bone");
    old.put("peft_type", "MISS");
    old.put("r", 8);
    old.put("target_modules", List.of("q_proj"));
    GenericRecord stats = new GenericData.Record(v1.getField("stats").schema());
    stats.put("step", 14L);
    stats.put("tokens", 2L);
    stats.put("examples", 3L);
    stats.put("skipped_steps", 0L);
    stats.put("last_loss", 1.5);
    stats.put("loss_ema", 1.5);
    old.put("stats", stats);
    old.put("lineage", List.of());
    GenericRecord inline = new GenericData.Record(v1.getField("payload").schema().getTypes().get(0));
    inline.put("adapter_config_json", "{}");
    inline.put("adapter_model_safetensors", ByteBuffer.wrap(new byte[] {1, 2}));
    old.put("payload", inline);
    ByteBuffer b = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old);
    byte[] bytes = new byte[b.remaining()];
    b.get(bytes);

    assertThrows(MissingSchemaException.class, () -> AdapterSnapshot.getDecoder().decode(bytes));
    AdapterSnapshot read = AdapterSnapshots.decode(bytes);
    assertEquals(7, read.getVersion());
    assertEquals(14, read.getStats().getStep());
    assertEquals(null, read.getResumedFrom());
    assertEquals(Instant.ofEpochMilli(5), read.getCreatedAt());

    AdapterSnapshot now = AdapterSnapshot.newBuilder(read).setResumedFrom(ResumedFrom.newBuilder()
        .setVersion(6).setReason("NO_STATE").setFreshOptimizer(true).build()).build();
    assertEquals(now, AdapterSnapshots.decode(AdapterSnapshots.encode(now)));
  }

  @Test
  void manifestsOfSchemaTwoReadWithoutTheContinualLearningFields() throws Exception {
    Schema v2 = AdapterSnapshots.schemaVersion(2);
    assertEquals(SchemaCompatibilityType.COMPATIBLE,
        SchemaCompatibility.checkReaderWriterCompatibility(AdapterSnapshot.getClassSchema(), v2).getType());
    assertEquals(SchemaCompatibilityType.COMPATIBLE, // a subscriber of the previous release reads new manifests
        SchemaCompatibility.checkReaderWriterCompatibility(v2, AdapterSnapshot.getClassSchema()).getType());
    AdapterSnapshot now = AdapterSnapshot.newBuilder().setAdapterId("a").setVersion(3)
        .setCreatedAt(Instant.ofEpochMilli(5))
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("0".repeat(64)).build())
        .setTokenizerSha256("1".repeat(64)).setMethod("bone").setPeftType("MISS").setR(8)
        .setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(1).setTokens(2).setExamples(3).setSkippedSteps(0)
            .setLastLoss(1.5).setLossEma(1.5).setAnchorLoss(2.0).setBaseAnchorLoss(1.9).setReplayedExamples(4)
            .setDriftEvents(1).build())
        .setLineage(List.of())
        .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
            .setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {1})).build())
        .setDrift(DriftEvent.newBuilder().setStep(9).setLoss(3.0).setBaseline(1.0).setAction("PIN").build())
        .setErasures(List.of(Erasure.newBuilder().setExampleId("x").setTopic("c").setPartition(0).setOffset(7)
            .setRemovedBuffered(1).setRemovedReplay(0).setRemovedEval(0).setRetrained(false).setDiscardedSteps(0)
            .build()))
        .build();
    assertEquals(now, AdapterSnapshots.decode(AdapterSnapshots.encode(now)));
    // the same manifest as the previous release wrote it: the new fields read as their defaults
    GenericRecord old = (GenericRecord) GenericData.get().deepCopy(v2,
        toGeneric(AdapterSnapshots.encode(AdapterSnapshot.newBuilder(now).setDrift(null).setErasures(List.of())
            .setStats(TrainingStats.newBuilder(now.getStats()).setAnchorLoss(null).setBaseAnchorLoss(null)
                .setReplayedExamples(0).setDriftEvents(0).build()).build()), v2));
    byte[] bytes = bytes(new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v2).encode(old));
    AdapterSnapshot read = AdapterSnapshots.decode(bytes);
    assertEquals(3, read.getVersion());
    assertEquals(null, read.getDrift());
    assertEquals(List.of(), read.getErasures());
    assertEquals(null, read.getStats().getAnchorLoss());
    assertEquals(0, read.getStats().getReplayedExamples());
  }

  @Test
  void gatedRecordsOfSchemaOneReadWithoutAReason() throws Exception {
    Schema v1 = GatedSnapshots.schemaVersion(1);
    GenericRecord old = new GenericData.Record(v1);
    old.put("adapter_id", "a");
    old.put("after_version", 2L);
    old.put("created_at", 5L);
    GenericRecord stats = new GenericData.Record(v1.getField("stats").schema());
    for (String f : List.of("step", "tokens", "examples", "skipped_steps")) {
      stats.put(f, 1L);
    }
    stats.put("last_loss", 1.5);
    stats.put("loss_ema", 1.5);
    stats.put("eval_loss", 2.5);
    old.put("stats", stats);
    old.put("best_eval_loss", 2.0);
    old.put("tolerance", 0.05);
    old.put("eval_examples", 8);
    byte[] bytes = bytes(new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old));
    GatedSnapshot read = GatedSnapshots.decode(bytes);
    assertEquals(2, read.getAfterVersion());
    assertEquals(null, read.getReason());
    assertEquals(2.5, read.getStats().getEvalLoss());
    GatedSnapshot now = GatedSnapshot.newBuilder(read).setReason("ANCHOR_LOSS").build();
    assertEquals(now, GatedSnapshots.decode(bytes(GatedSnapshot.getEncoder().encode(now))));
  }

  private static GenericRecord toGeneric(byte[] singleObject, Schema reader) throws Exception {
    Schema writer = AdapterSnapshot.getClassSchema();
    return new org.apache.avro.generic.GenericDatumReader<GenericRecord>(writer, reader).read(null,
        org.apache.avro.io.DecoderFactory.get().binaryDecoder(singleObject, 10, singleObject.length - 10, null));
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
