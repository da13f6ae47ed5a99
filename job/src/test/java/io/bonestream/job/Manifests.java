package io.bonestream.job;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.publish.BlobStore;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Real adapter manifests made by the engine (training on the colors task between versions), for
 * subscriber tests that need exact control of what is published.
 */
final class Manifests {
  final BaseModel base;
  final Tokenizer tokenizer;
  private final Trainer trainer;
  private final List<Example> data = new ArrayList<>();
  private final String adapterId;
  private int cursor;

  Manifests(BaseModel base, Tokenizer tokenizer, String adapterId, AdapterMethod method) throws Exception {
    this.base = base;
    this.tokenizer = tokenizer;
    this.adapterId = adapterId;
    this.trainer = Trainer.create(base, AdapterConfig.builder().method(method).r(4).build(),
        TrainConfig.builder().lr(2e-2).batchSize(8).build());
    ExampleEncoder enc = new ExampleEncoder(tokenizer, 64, base.config().vocabSize());
    for (var r : StreamingHarness.colors(adapterId, 64)) {
      data.add(enc.promptResponse(null, r.getPrompt(), r.getResponse()));
    }
  }

  /** Trains {@code steps} more steps and returns the manifest of {@code version}, inline. */
  AdapterSnapshot next(long version, int steps) {
    for (int s = 0; s < steps; s++) {
      List<Example> batch = new ArrayList<>();
      for (int j = 0; j < 8; j++) {
        batch.add(data.get(cursor++ % data.size()));
      }
      trainer.step(batch);
    }
    PeftExport.AdapterFiles f = files();
    return manifest(version).setPayload(InlineAdapter.newBuilder().setAdapterConfigJson(f.configJson())
        .setAdapterModelSafetensors(ByteBuffer.wrap(f.weights())).build()).build();
  }

  PeftExport.AdapterFiles files() {
    return PeftExporter.render(trainer.adapters(), base,
        trainer.adapters().config().method() == AdapterMethod.LORA ? PeftFormat.LORA : PeftFormat.MISS,
        trainer.adapters().config().r());
  }

  AdapterSnapshot.Builder manifest(long version) {
    return AdapterSnapshot.newBuilder().setAdapterId(adapterId).setVersion(version).setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName(base.name()).setWeightsSha256(base.fingerprint()).build())
        .setTokenizerSha256(tokenizer.sha256()).setMethod(trainer.adapters().config().method().id())
        .setPeftType("MISS").setR(4).setTargetModules(trainer.adapters().config().targetModuleNames())
        .setStats(TrainingStats.newBuilder().setStep(trainer.step()).setTokens(trainer.tokensSeen())
            .setExamples(trainer.examplesSeen()).setSkippedSteps(0).setLastLoss(1).setLossEma(1).build())
        .setLineage(List.of());
  }

  /** The manifest of {@code version} with its adapter written to a blob store (a claim check). */
  AdapterSnapshot withClaimCheck(long version, java.nio.file.Path blobs) {
    return manifest(version).setPayload(BlobStore.write(blobs.toUri().toString(), adapterId, version, files())).build();
  }

  /** Publishes {@code manifest} under the record key {@code key}, whatever its adapter id. */
  static void publishAs(String bootstrap, String topic, String key, AdapterSnapshot manifest) throws Exception {
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new Properties())) {
      p.send(new ProducerRecord<>(topic, key.getBytes(java.nio.charset.StandardCharsets.UTF_8),
          io.bonestream.schemas.AdapterSnapshots.encode(manifest))).get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
  }

  static void publish(String bootstrap, String topic, AdapterSnapshot... manifests) throws Exception {
    Properties tx = new Properties();
    tx.put("transactional.id", "manifests-" + java.util.UUID.randomUUID());
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, tx)) {
      p.initTransactions();
      for (AdapterSnapshot m : manifests) {
        p.beginTransaction();
        ByteBuffer b = AdapterSnapshot.getEncoder().encode(m);
        byte[] v = new byte[b.remaining()];
        b.get(v);
        p.send(new ProducerRecord<>(topic, m.getAdapterId().getBytes(), v));
        p.commitTransaction();
      }
    }
  }

  static BaseModel stories() {
    return BaseModel.load(TestFiles.stories260K());
  }
}
