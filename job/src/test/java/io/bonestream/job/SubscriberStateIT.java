package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import io.bonestream.subscriber.RefusalReason;
import io.bonestream.subscriber.SubscriberMetrics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A subscriber's own state against a topic that lost history, and its follow loop against
 * failure, on a real broker with signed, engine-made manifests.
 */
class SubscriberStateIT {
  @TempDir static Path tmp;
  static EmbeddedKafka kafka;
  static BaseModel base;
  static Tokenizer tokenizer;
  static final KeyPair KEYS = SigningKeys.generate();
  static final SigningKeys.Signer SIGNER = new SigningKeys.Signer(KEYS.getPrivate(), KEYS.getPublic(),
      SigningKeys.keyId(KEYS.getPublic()));

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

  private static AdapterSubscriber.Builder subscriber(String topic, AdapterRegistry registry, Path state) {
    return AdapterSubscriber.builder().trustedKey(KEYS.getPublic()).bootstrapServers(kafka.bootstrapServers())
        .topic(topic).baseModel(base.host()).registry(registry).stateDir(state);
  }

  private static long served(String topic, Path state) throws Exception {
    AdapterRegistry registry = AdapterRegistry.builder().build();
    try (AdapterSubscriber s = subscriber(topic, registry, state).build().start()) {
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      return registry.resolve("kids").orElseThrow(() -> new AssertionError("kids not served")).version();
    }
  }

  /** Sends a raw record (a tombstone when {@code value} is null). */
  private static void send(String topic, String key, byte[] value) throws Exception {
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      p.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value)).get(1, TimeUnit.MINUTES);
    }
  }

  private static void await(BooleanSupplier done, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!done.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, what + ": not within 60 s");
      Thread.sleep(10);
    }
  }

  @Test
  void aRestartedSubscriberNeverServesAReplayedOldVersionNorLosesACompactedAdapter() throws Exception {
    Manifests m = new Manifests(base, tokenizer, "kids", AdapterMethod.BAT);
    AdapterSnapshot[] signed = new AdapterSnapshot[6];
    for (int v = 1; v <= 5; v++) {
      signed[v] = ManifestSignatures.sign(m.next(v, 1), SIGNER);
    }
    kafka.createTopic("history", 1, true);
    Manifests.publish(kafka.bootstrapServers(), "history", signed[1], signed[2], signed[3], signed[4], signed[5]);
    Path state = tmp.resolve("state");
    assertEquals(5, served("history", state), "the first run serves the latest");

    // an attacker (or a mistake) appends the genuine, signed v1 again; once compaction runs, the
    // topic holds that record alone for the key: these topics are what compaction leaves
    kafka.createTopic("replayed", 1, true);
    Manifests.publish(kafka.bootstrapServers(), "replayed", signed[1]);
    kafka.createTopic("tombstoned", 1, true);
    send("tombstoned", "kids", null);

    Path none = tmp.resolve("no-state");
    assertEquals(1, served("replayed", none), "without a state folder the replay rolls the adapter back");

    AdapterRegistry registry = AdapterRegistry.builder().build();
    List<AdapterUpdate> updates = new CopyOnWriteArrayList<>();
    try (AdapterSubscriber s = subscriber("replayed", registry, state).build()) {
      s.addListener(updates::add);
      s.start();
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      assertEquals(5, registry.resolve("kids").map(v -> v.version()).orElse(-1L),
          "restarted on its state: still v5 " + updates);
      assertTrue(updates.stream().noneMatch(u -> u instanceof AdapterUpdate.Accepted a && a.version() == 1),
          "the replayed v1 is served: " + updates);
      // a genuinely newer version is served, and raises the floor
      Manifests.publish(kafka.bootstrapServers(), "replayed", ManifestSignatures.sign(m.next(6, 1), SIGNER));
      await(() -> registry.resolve("kids").orElseThrow().version() == 6, "v6 served");
    }
    assertEquals("6", Files.readString(state.resolve("kids.floor")).strip());
    assertEquals(6, served("tombstoned", state), "a tombstone on the topic does not remove a kept adapter");

    // a state file changed on disk is verified as any record: a bad signature is refused
    byte[] kept = Files.readAllBytes(state.resolve("kids.manifest"));
    kept[kept.length / 2] ^= 1;
    Files.write(state.resolve("kids.manifest"), kept);
    kafka.createTopic("only-v1", 1, true);
    Manifests.publish(kafka.bootstrapServers(), "only-v1", signed[1]);
    AdapterRegistry after = AdapterRegistry.builder().build();
    List<AdapterUpdate> refused = new CopyOnWriteArrayList<>();
    try (AdapterSubscriber s = subscriber("only-v1", after, state).build()) {
      s.addListener(refused::add);
      s.start();
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      assertTrue(after.resolve("kids").isEmpty(), "a changed kept manifest is served: " + after.resolve("kids"));
      assertTrue(refused.stream().anyMatch(u -> u instanceof AdapterUpdate.Refused r && r.version() == 6),
          refused.toString());
      assertTrue(refused.stream().anyMatch(u -> u instanceof AdapterUpdate.Refused r && r.version() == 1
          && r.reason() == RefusalReason.OUT_OF_ORDER), "the floor holds without the manifest: " + refused);
    }
  }

  @Test
  void aFailedFollowLoopStartsAgainAndIsNotReadyMeanwhile() throws Exception {
    kafka.createTopic("flaky", 1, true);
    AdapterRegistry registry = AdapterRegistry.builder().build();
    SubscriberMetrics metrics = SubscriberMetrics.create(registry);
    AtomicBoolean failOnce = new AtomicBoolean(true);
    try (AdapterSubscriber s = subscriber("flaky", registry, tmp.resolve("flaky-state")).metrics(metrics).build()) {
      // any failure inside the loop: here a listener that fails with an error on the first refusal
      // it hears (a listener's runtime exceptions are caught and logged, ListenerFailureTest)
      s.addListener(u -> {
        if (u instanceof AdapterUpdate.Refused && failOnce.getAndSet(false)) {
          throw new AssertionError("listener failed");
        }
      });
      s.start();
      assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      assertTrue(metrics.scrape().contains("bonestream_subscriber_following 1.0"), metrics.scrape());
      send("flaky", "kids", "not a manifest".getBytes(StandardCharsets.UTF_8));
      await(() -> !s.isReady(), "not ready while the loop is down");
      assertTrue(!s.isFollowing());
      assertTrue(metrics.scrape().contains("bonestream_subscriber_following 0.0"), "the metric while down");
      await(s::isReady, "ready again");
      assertTrue(metrics.scrape().contains("bonestream_subscriber_following 1.0"), metrics.scrape());
      assertTrue(metrics.scrape().contains("bonestream_subscriber_follow_restarts_total 1.0"), metrics.scrape());
      Manifests m = new Manifests(base, tokenizer, "kids", AdapterMethod.BAT);
      Manifests.publish(kafka.bootstrapServers(), "flaky", ManifestSignatures.sign(m.next(1, 1), SIGNER));
      await(() -> registry.resolve("kids").isPresent(), "a version after the restart is served");
    }
  }
}
