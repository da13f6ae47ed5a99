package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Json;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The subscriber as an inference service runs it, on its own classpath (this module's, which has
 * no engine, ND4J or native library): it follows a real topic, verifies signed manifests against
 * the memory-mapped base model, and writes PEFT folders, the LoRA form included (exact for bone,
 * a truncated SVD for bat), all in plain Java. Each exported LoRA is checked against ΔW computed
 * here from the published tensors with the formulas of docs/bone.md.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LeanSubscriberIT {
  private static final KeyPair KEYS = SigningKeys.generate();
  private static final SigningKeys.Signer SIGNER = new SigningKeys.Signer(KEYS.getPrivate(), KEYS.getPublic(),
      SigningKeys.keyId(KEYS.getPublic()));
  private static final String TOPIC = "lean.adapters";

  @TempDir Path tmp;

  @Test
  void followsATopicAndExportsPeftFoldersWithoutTheEngine() throws Exception {
    assertThrows(ClassNotFoundException.class, () -> Class.forName("org.nd4j.linalg.factory.Nd4j"),
        "ND4J is on the subscriber's classpath");
    assertThrows(ClassNotFoundException.class, () -> Class.forName("org.bytedeco.javacpp.Loader"),
        "JavaCPP is on the subscriber's classpath");
    assertThrows(ClassNotFoundException.class, () -> Class.forName("io.bonestream.engine.model.BaseModel"),
        "the engine is on the subscriber's classpath");

    AdapterConfig bone = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    AdapterConfig bat = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    PeftExport.AdapterFiles boneFiles = TestModels.files(bone, 11);
    PeftExport.AdapterFiles batFiles = TestModels.files(bat, 12);
    Path exports = tmp.resolve("exports");
    Files.createDirectories(exports);
    List<AdapterUpdate> updates = new CopyOnWriteArrayList<>();
    try (TestBroker kafka = TestBroker.start(tmp.resolve("kafka"))) {
      kafka.createTopic(TOPIC);
      // a mistyped topic is an error, and stays missing (the broker creates topics on first use)
      try (AdapterSubscriber typo = AdapterSubscriber.builder().bootstrapServers(kafka.bootstrapServers())
          .topic("lean.adaptres").baseModel(TestModels.BASE).trustedKey(KEYS.getPublic()).build()) {
        Exception e = assertThrows(Exception.class, typo::start);
        assertTrue(e.getMessage().contains("topic lean.adaptres not found"), e.getMessage());
      }
      try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
          Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()))) {
        // a topic made after the lookup: the controller's log is ordered, so a creation the lookup asked for
        // is committed by the time this one is (a condition, not a fixed sleep)
        admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("lean.marker", 1, (short) 1))).all()
            .get(30, TimeUnit.SECONDS);
        assertEquals(java.util.Set.of(TOPIC, "lean.marker"), admin.listTopics().names().get(30, TimeUnit.SECONDS),
            "the subscriber created the topic it looked for");
      }
      try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of("bootstrap.servers",
          kafka.bootstrapServers()), new ByteArraySerializer(), new ByteArraySerializer())) {
        for (AdapterSnapshot m : List.of(manifest("tenant-bone", bone, boneFiles), manifest("tenant-bat", bat, batFiles))) {
          producer.send(new ProducerRecord<>(TOPIC, m.getAdapterId().getBytes(), AdapterSnapshots.encode(m))).get();
        }
      }
      try (AdapterSubscriber subscriber = AdapterSubscriber.builder().bootstrapServers(kafka.bootstrapServers())
          .topic(TOPIC).baseModel(TestModels.BASE).trustedKey(KEYS.getPublic()).build()) {
        subscriber.addListener(PeftExportSink.builder(exports).batLoraRank(8).build());
        subscriber.addListener(updates::add);
        subscriber.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (updates.size() < 2 && System.nanoTime() < deadline) {
          Thread.sleep(50);
        }
      }
    }
    assertEquals(2, updates.size(), "updates: " + updates);
    updates.forEach(u -> assertTrue(u instanceof AdapterUpdate.Accepted, "refused: " + u));

    // the published files, byte for byte
    Path boneDir = exports.resolve("tenant-bone@1");
    assertArrayEquals(boneFiles.weights(), Files.readAllBytes(boneDir.resolve(PeftFiles.ADAPTER_WEIGHTS)));
    assertEquals(boneFiles.configJson(), Files.readString(boneDir.resolve(PeftFiles.ADAPTER_CONFIG)));

    // bone as LoRA: exact at rank r
    SafeTensorsReader.Contents published = SafeTensorsReader.parse(boneFiles.weights(), "bone");
    double worst = 0;
    for (AdapterLayout.Site s : AdapterLayout.of(TestModels.BASE.config(), bone).sites()) {
      float[] block = published.tensors().get(key(s, "miss_block")).floats(); // (r, O)
      double[] delta = new double[s.out() * s.in()];
      for (int o = 0; o < s.out(); o++) {
        for (int i = 0; i < s.in(); i++) {
          delta[o * s.in() + i] = block[(i % 4) * s.out() + o];
        }
      }
      worst = Math.max(worst, relativeError(delta, boneDir.resolve("lora"), s));
    }
    assertTrue(worst < 1e-6, "bone's LoRA form is not exact: " + worst);
    JsonNode boneInfo = Json.readTree(boneDir.resolve("export.json"));
    assertTrue(boneInfo.path("lora").path("exact").asBoolean());

    // bat as LoRA: the truncated SVD, with the error it reports
    Path batDir = exports.resolve("tenant-bat@1");
    SafeTensorsReader.Contents batTensors = SafeTensorsReader.parse(batFiles.weights(), "bat");
    double err = 0;
    double norm = 0;
    for (AdapterLayout.Site s : AdapterLayout.of(TestModels.BASE.config(), bat).sites()) {
      float[] b = batTensors.tensors().get(key(s, "miss_block")).floats(); // (O/r, r, r)
      float[] w = TestModels.BASE.floats(s.modulePath() + ".weight");      // (O, I)
      double[] delta = new double[s.out() * s.in()];
      for (int o = 0; o < s.out(); o++) {          // ΔW_{a,b} = (W_{a,b} + I) B_a
        for (int i = 0; i < s.in(); i++) {
          double sum = 0;
          for (int t = 0; t < 4; t++) {
            double g = w[o * s.in() + (i / 4) * 4 + t] + (o % 4 == t ? 1 : 0);
            sum += g * b[((o / 4) * 4 + t) * 4 + i % 4];
          }
          delta[o * s.in() + i] = sum;
        }
      }
      double e = relativeError(delta, batDir.resolve("lora"), s);
      double n2 = 0;
      for (double d : delta) {
        n2 += d * d;
      }
      err += e * e * n2;
      norm += n2;
    }
    JsonNode batInfo = Json.readTree(batDir.resolve("export.json"));
    assertEquals(8, batInfo.path("lora").path("rank").asInt());
    double measured = Math.sqrt(err / norm);
    assertEquals(measured, batInfo.path("lora").path("relative_error").asDouble(), 1e-4 * measured + 1e-7,
        "the reported error is not the exported pair's");
    assertTrue(measured > 0 && measured < 1, "a rank-8 cut of bat's ΔW: " + measured);
  }

  /** ‖ΔW − B A‖ / ‖ΔW‖ of one site's exported LoRA pair. */
  private static double relativeError(double[] delta, Path loraDir, AdapterLayout.Site s) throws Exception {
    SafeTensorsReader.Contents lora = SafeTensorsReader.parse(
        Files.readAllBytes(loraDir.resolve(PeftFiles.ADAPTER_WEIGHTS)), loraDir.toString());
    SafeTensorsReader.Stored a = lora.tensors().get(key(s, "lora_A.weight"));
    SafeTensorsReader.Stored b = lora.tensors().get(key(s, "lora_B.weight"));
    int k = (int) a.shape()[0];
    float[] av = a.floats();
    float[] bv = b.floats();
    double diff = 0;
    double norm = 0;
    for (int o = 0; o < s.out(); o++) {
      for (int i = 0; i < s.in(); i++) {
        double ba = 0;
        for (int j = 0; j < k; j++) {
          ba += (double) bv[o * k + j] * av[j * s.in() + i];
        }
        double d = delta[o * s.in() + i];
        diff += (d - ba) * (d - ba);
        norm += d * d;
      }
    }
    return Math.sqrt(diff / norm);
  }

  private static String key(AdapterLayout.Site s, String suffix) {
    return "base_model.model." + s.modulePath() + "." + suffix;
  }

  private static AdapterSnapshot manifest(String id, AdapterConfig config, PeftExport.AdapterFiles files) {
    return ManifestSignatures.sign(TestManifests.inline(id, 1, config, files), SIGNER);
  }
}
