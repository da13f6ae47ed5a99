package io.bonestream.subscriber;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Manifests as the job publishes them, with the adapter inline, on {@link TestModels#BASE}. */
final class TestManifests {
  private TestManifests() {}

  /** An unsigned manifest of {@code files}. */
  static AdapterSnapshot inline(String id, long version, AdapterConfig config, PeftExport.AdapterFiles files) {
    return AdapterSnapshot.newBuilder().setAdapterId(id).setVersion(version).setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName(TestModels.BASE.name())
            .setWeightsSha256(TestModels.BASE.fingerprint()).build())
        .setTokenizerSha256("0".repeat(64)).setMethod(config.method().id()).setPeftType("MISS").setR(config.r())
        .setTargetModules(config.targetModuleNames())
        .setStats(TrainingStats.newBuilder().setStep(version).setTokens(0).setExamples(0).setSkippedSteps(0)
            .setLastLoss(1).setLossEma(1).build())
        .setLineage(List.of())
        .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson(files.configJson())
            .setAdapterModelSafetensors(ByteBuffer.wrap(files.weights())).build())
        .build();
  }

  /** The record the subscriber would read for {@code m} at {@code offset}. */
  static ConsumerRecord<byte[], byte[]> record(AdapterSnapshot m, long offset) {
    return new ConsumerRecord<>("bonestream.adapters", 0, offset, m.getAdapterId().getBytes(StandardCharsets.UTF_8),
        AdapterSnapshots.encode(m));
  }
}
