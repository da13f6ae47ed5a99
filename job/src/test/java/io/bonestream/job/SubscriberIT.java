package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.serve.AdapterModels;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.PeftExportSink;
import io.bonestream.subscriber.RefusalReason;
import io.bonestream.subscriber.SubscriberMetrics;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The subscriber library against a real broker and real, engine-made manifests. */
class SubscriberIT {
  @TempDir static Path tmp;
  static EmbeddedKafka kafka;
  static BaseModel base;
  static Tokenizer tokenizer;

  @BeforeAll
  static void start() {
    kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
    base = BaseModel.load(TestFiles.stories260K());
    tokenizer = Tokenizer.load(TestFiles.stories260K(), base.config());
  }

  @AfterAll
  static void stop() {
    kafka.close();
    tokenizer.close();
  }

  private static AdapterSubscriber subscriber(String topic, AdapterRegistry registry) {
    return AdapterSubscriber.builder().allowUnsigned(true).bootstrapServers(kafka.bootstrapServers()).topic(topic)
        .baseModel(base.host()).registry(registry).build();
  }

  private static void await(java.util.function.BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not reached within 60 s");
      }
      Thread.sleep(20);
    }
  }

  @Test
  void aLateSubscriberEndsOnTheLatestVersion() throws Exception {
    kafka.createTopic("late", 1, true);
    Manifests m = new Manifests(base, tokenizer, "late", AdapterMethod.BAT);
    for (long v = 1; v <= 5; v++) {
      Manifests.publish(kafka.bootstrapServers(), "late", m.next(v, 1));
    }
    AdapterRegistry registry = AdapterRegistry.builder().keep(3).build();
    try (AdapterSubscriber s = subscriber("late", registry).start()) {
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      assertEquals(5, registry.resolve("late").orElseThrow().version());
      assertEquals(List.of(3L, 4L, 5L), registry.versions("late").stream().map(v -> v.version()).toList());
      assertTrue(registry.resolve("late@2").isEmpty(), "only the last 3 are kept");
    }
  }

  @Test
  void aRunningSubscriberSeesEveryVersionInOrderExactlyOnce() throws Exception {
    kafka.createTopic("live", 1, true);
    AdapterRegistry registry = AdapterRegistry.builder().build();
    List<Long> seen = new CopyOnWriteArrayList<>();
    try (AdapterSubscriber s = subscriber("live", registry)) {
      s.addListener(u -> {
        if (u instanceof AdapterUpdate.Accepted a) {
          seen.add(a.version());
        }
      });
      s.start();
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      Manifests m = new Manifests(base, tokenizer, "live", AdapterMethod.BONE);
      for (long v = 1; v <= 5; v++) {
        Manifests.publish(kafka.bootstrapServers(), "live", m.next(v, 1));
      }
      await(() -> seen.size() >= 5);
      // one more, last in the topic: anything delivered twice before it would show by the time it comes
      Manifests.publish(kafka.bootstrapServers(), "live", m.next(6, 1));
      await(() -> seen.contains(6L));
    }
    assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), seen);
  }

  @Test
  void badVersionsAreRefusedWhileThePreviousOneKeepsServing() throws Exception {
    kafka.createTopic("bad", 1, true);
    Path blobs = tmp.resolve("blobs");
    Manifests m = new Manifests(base, tokenizer, "bad", AdapterMethod.BAT);
    AdapterSnapshot good = m.next(1, 2);
    // 2: a claim check whose blob is changed after publishing
    AdapterSnapshot tampered = m.withClaimCheck(2, blobs);
    Path blob2 = blobs.resolve("bad/2/adapter_model.safetensors");
    byte[] b = Files.readAllBytes(blob2);
    b[b.length - 1] ^= 1;
    Files.write(blob2, b);
    // 3: a claim check whose blob is gone
    AdapterSnapshot missing = m.withClaimCheck(3, blobs);
    Files.delete(blobs.resolve("bad/3/adapter_model.safetensors"));
    // 4: another base model
    AdapterSnapshot otherBase = AdapterSnapshot.newBuilder(m.next(4, 1))
        .setBaseModel(BaseModelRef.newBuilder().setName("other").setWeightsSha256("f".repeat(64)).build()).build();
    // 5: a NaN in the adapter tensors
    AdapterSnapshot nan = m.next(5, 1);
    InlineAdapter in = (InlineAdapter) nan.getPayload();
    byte[] w = new byte[in.getAdapterModelSafetensors().remaining()];
    in.getAdapterModelSafetensors().duplicate().get(w);
    ByteBuffer.wrap(w).order(ByteOrder.LITTLE_ENDIAN).putFloat(w.length - 4, Float.NaN);
    AdapterSnapshot nonFinite = AdapterSnapshot.newBuilder(nan).setPayload(InlineAdapter.newBuilder(in)
        .setAdapterModelSafetensors(ByteBuffer.wrap(w)).build()).build();

    AdapterRegistry registry = AdapterRegistry.builder().build();
    SubscriberMetrics metrics = SubscriberMetrics.create(registry);
    List<AdapterUpdate.Refused> refused = new CopyOnWriteArrayList<>();
    try (AdapterSubscriber s = AdapterSubscriber.builder().allowUnsigned(true).bootstrapServers(kafka.bootstrapServers()).topic("bad")
        .baseModel(base.host()).registry(registry).metrics(metrics).build()) {
      s.addListener(u -> {
        if (u instanceof AdapterUpdate.Refused r) {
          refused.add(r);
        }
      });
      s.start();
      Manifests.publish(kafka.bootstrapServers(), "bad", good);
      await(() -> registry.resolve("bad").isPresent());
      Manifests.publish(kafka.bootstrapServers(), "bad", tampered, missing, otherBase, nonFinite);
      await(() -> refused.size() >= 4);
    }
    assertEquals(List.of(RefusalReason.TAMPERED, RefusalReason.MISSING_BLOB, RefusalReason.BASE_MODEL_MISMATCH,
        RefusalReason.NON_FINITE), refused.stream().map(AdapterUpdate.Refused::reason).toList());
    assertEquals(1, registry.resolve("bad").orElseThrow().version(), "version 1 keeps serving");
    String scrape = metrics.scrape();
    assertTrue(scrape.contains("bonestream_subscriber_refused_total{reason=\"TAMPERED\"} 1.0"), scrape);
    assertTrue(scrape.contains("bonestream_subscriber_adapter_version{adapter=\"bad\"} 1.0"), scrape);
  }

  @Test
  void theExportedLoraOfABoneAdapterGivesTheAdaptersLogits() throws Exception {
    kafka.createTopic("export", 1, true);
    Manifests m = new Manifests(base, tokenizer, "exp", AdapterMethod.BONE);
    Manifests.publish(kafka.bootstrapServers(), "export", m.next(1, 2), m.next(2, 2));
    Path dir = tmp.resolve("exports");
    AdapterRegistry registry = AdapterRegistry.builder().build();
    PeftExportSink sink = PeftExportSink.builder(dir).keep(1).build();
    try (AdapterSubscriber s = subscriber("export", registry)) {
      s.addListener(sink);
      s.start();
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
    }
    var v2 = registry.resolve("exp").orElseThrow();
    assertEquals(2, v2.version());
    assertTrue(Files.isSymbolicLink(dir.resolve("exp")));
    assertEquals(dir.resolve("exp@2/lora").toRealPath(), dir.resolve("exp").toRealPath());
    assertTrue(!Files.exists(dir.resolve("exp@1")), "keep 1: version 1 pruned");
    var lora = PeftImporter.read(dir.resolve("exp"), base);
    TokenBatch batch = TokenBatch.ofIds(tokenizer.encode("Lily has a red ball. What color is the ball?"));
    INDArray viaBone = new Transformer(base, AdapterModels.adapters(v2, base)).logits(batch);
    INDArray viaLora = new Transformer(base, lora).logits(batch);
    INDArray plain = new Transformer(base, null).logits(batch);
    assertTrue(viaBone.sub(plain).amaxNumber().doubleValue() > 1e-2, "the adapter changes nothing");
    assertTrue(viaBone.sub(viaLora).amaxNumber().doubleValue() < 1e-4);
    var info = io.bonestream.core.util.Json.readTree(dir.resolve("exp@2/export.json"));
    assertTrue(info.get("lora").get("exact").asBoolean());
  }
}
