package io.bonestream.subscriber;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.nio.file.Path;
import java.security.PublicKey;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.jspecify.annotations.Nullable;

/**
 * Follows the adapters topic ({@code read_committed}) and serves each verified version through an
 * {@link AdapterRegistry}. With trusted public keys it checks every manifest's Ed25519 signature
 * first ({@link io.bonestream.schemas.ManifestSignatures}). On start it reads the (compacted) topic from the beginning, so a
 * restarted service rebuilds its latest versions; {@link #awaitReady} returns once it has caught up
 * with what was there. Build it with {@link #builder()}; {@link #start()} runs it on its own
 * thread.
 */
public final class AdapterSubscriber implements AutoCloseable {
  private final String bootstrapServers;
  private final String topic;
  private final Properties kafkaProperties;
  private final AdapterRegistry registry;
  private final SnapshotLoader loader;
  private final Map<String, PublicKey> trustedKeys;
  private final @Nullable SubscriberMetrics metrics;
  private final CountDownLatch ready = new CountDownLatch(1);
  private volatile boolean running;
  private @Nullable KafkaConsumer<byte[], byte[]> consumer;
  private @Nullable Thread thread;

  private AdapterSubscriber(Builder b) {
    this.bootstrapServers = b.bootstrapServers;
    this.topic = b.topic;
    this.kafkaProperties = b.kafkaProperties;
    this.registry = b.registry != null ? b.registry : AdapterRegistry.builder().build();
    this.metrics = b.metrics;
    this.trustedKeys = Map.copyOf(b.trustedKeys);
    SubscriberMetrics m = b.metrics;
    this.loader = new SnapshotLoader(b.baseModel, b.fetchers, b.verifier, bytes -> {
      if (m != null) {
        m.fetched(bytes);
      }
    });
  }

  public static Builder builder() {
    return new Builder();
  }

  public AdapterRegistry registry() {
    return registry;
  }

  /** Listens to accepted and refused versions (also those of the start-up catch-up). */
  public void addListener(AdapterListener listener) {
    registry.addListener(listener);
  }

  public void removeListener(AdapterListener listener) {
    registry.removeListener(listener);
  }

  /** Starts following the topic on a background thread. */
  public synchronized AdapterSubscriber start() {
    if (thread != null) {
      throw new IllegalStateException("already started");
    }
    Properties p = new Properties();
    p.put("group.id", "bonestream-subscriber-" + UUID.randomUUID());
    p.put("enable.auto.commit", "false");
    p.putAll(kafkaProperties);
    p.put("bootstrap.servers", bootstrapServers);
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
    List<TopicPartition> parts;
    try {
      parts = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(topic, i.partition())).toList();
    } catch (RuntimeException e) {
      c.close();
      throw new BonestreamException("cannot read topic " + topic + " at " + bootstrapServers + ": " + e.getMessage());
    }
    if (parts.isEmpty()) {
      c.close();
      throw new BonestreamException("topic " + topic + " not found at " + bootstrapServers);
    }
    c.assign(parts);
    c.seekToBeginning(parts);
    Map<TopicPartition, Long> end = c.endOffsets(parts);
    consumer = c;
    running = true;
    thread = new Thread(() -> follow(c, end), "adapter-subscriber-" + topic);
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  private void follow(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> startEnd) {
    try {
      while (running) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          apply(r);
        }
        if (ready.getCount() > 0 && caughtUp(c, startEnd)) {
          ready.countDown();
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      c.close();
    }
  }

  private static boolean caughtUp(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (c.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  /** Verifies, loads and serves (or refuses) one record of the topic; package-private for tests. */
  void apply(ConsumerRecord<byte[], byte[]> r) {
    long started = System.nanoTime();
    AdapterSnapshot m;
    try {
      m = AdapterSnapshots.decode(r.value());
    } catch (IOException | RuntimeException e) {
      String key = r.key() == null ? "?" : new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
      refused(key, -1, RefusalReason.INVALID_MANIFEST, "offset " + r.offset() + ": " + e.getMessage());
      return;
    }
    if (!AdapterIds.isValid(m.getAdapterId())) {
      // ids become file names (exports) and metric labels: nothing but a valid one goes further
      refused("?", m.getVersion(), RefusalReason.INVALID_MANIFEST, "offset " + r.offset()
          + ": the adapter id is not 1-128 characters of [A-Za-z0-9._-] (nor . or ..)");
      return;
    }
    var latest = registry.latest(m.getAdapterId());
    if (latest.isPresent() && latest.get().version() >= m.getVersion()) {
      return; // already served (a duplicate in a compacted log); older ones never come in order
    }
    if (!trustedKeys.isEmpty()) {
      ManifestSignatures.Check check = ManifestSignatures.verify(r.value(), trustedKeys);
      RefusalReason reason = switch (check.verdict()) {
        case VALID -> null;
        case UNSIGNED -> RefusalReason.UNSIGNED;
        case UNKNOWN_KEY -> RefusalReason.UNKNOWN_KEY;
        case BAD_SIGNATURE -> RefusalReason.BAD_SIGNATURE;
        case INVALID -> RefusalReason.INVALID_MANIFEST;
      };
      if (reason != null) {
        refused(m.getAdapterId(), m.getVersion(), reason, m.getAdapterId() + "@" + m.getVersion() + ": "
            + switch (reason) {
              case UNSIGNED -> "the manifest is not signed";
              case UNKNOWN_KEY -> "signed with key " + check.keyId() + ", which is not trusted here";
              case BAD_SIGNATURE -> "the signature of key " + check.keyId()
                  + " does not match the manifest and its payload";
              default -> "the manifest cannot be read";
            });
        return;
      }
    }
    try {
      AdapterVersion v = loader.load(m);
      registry.accept(v);
      if (metrics != null) {
        metrics.applied((System.nanoTime() - started) / 1e9);
      }
    } catch (SnapshotRefusedException e) {
      refused(m.getAdapterId(), m.getVersion(), e.reason(), e.getMessage());
    } catch (RuntimeException e) {
      refused(m.getAdapterId(), m.getVersion(), RefusalReason.INVALID_ADAPTER, String.valueOf(e.getMessage()));
    }
  }

  private void refused(String id, long version, RefusalReason reason, String message) {
    if (metrics != null) {
      metrics.refused(reason);
    }
    registry.refuse(id, version, reason, message);
  }

  /** Waits until the versions present at start have been read; false on timeout. */
  public boolean awaitReady(Duration timeout) throws InterruptedException {
    return ready.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  public boolean isReady() {
    return ready.getCount() == 0;
  }

  @Override
  public synchronized void close() {
    running = false;
    if (consumer != null) {
      consumer.wakeup();
    }
    if (thread != null) {
      try {
        thread.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** Settings; the bootstrap servers and the base model are required. */
  public static final class Builder {
    private String bootstrapServers = "";
    private String topic = "bonestream.adapters";
    private Properties kafkaProperties = new Properties();
    private @Nullable BaseModel baseModel;
    private @Nullable AdapterRegistry registry;
    private final Map<String, BlobFetcher> fetchers = new HashMap<>(Map.of("file", BlobFetcher.FILE));
    private SnapshotVerifier verifier = SnapshotVerifier.NONE;
    private @Nullable SubscriberMetrics metrics;
    private final Map<String, PublicKey> trustedKeys = new HashMap<>();
    private boolean allowUnsigned;

    public Builder bootstrapServers(String v) {
      bootstrapServers = v;
      return this;
    }

    public Builder topic(String v) {
      topic = v;
      return this;
    }

    /** Kafka client properties (TLS, SASL, ...). */
    public Builder kafkaProperties(Properties v) {
      kafkaProperties = v;
      return this;
    }

    /** The frozen base model the adapters belong to; versions of another base are refused. */
    public Builder baseModel(BaseModel v) {
      baseModel = v;
      return this;
    }

    /** Where versions go (default: a new registry keeping 3 per adapter). */
    public Builder registry(AdapterRegistry v) {
      registry = v;
      return this;
    }

    /** Reads claim-check blobs of a URI scheme, e.g. {@code s3}; {@code file} is built in. */
    public Builder blobFetcher(String scheme, BlobFetcher fetcher) {
      fetchers.put(scheme, fetcher);
      return this;
    }

    /** Reads claim-check blobs from S3 or an S3-compatible store: {@code s3://}, {@code s3a://}, {@code s3p://}. */
    public Builder s3(S3BlobFetcher fetcher) {
      S3BlobFetcher.SCHEMES.forEach(scheme -> fetchers.put(scheme, fetcher));
      return this;
    }

    /** An extra check of every version before it is served (e.g. signatures). */
    public Builder verifier(SnapshotVerifier v) {
      verifier = v;
      return this;
    }

    public Builder metrics(SubscriberMetrics v) {
      metrics = v;
      return this;
    }

    /**
     * Trusts manifests signed with this Ed25519 key (several: during a key rotation). With trusted
     * keys, a manifest signed with another key, whose signature does not match, or unsigned is
     * refused.
     */
    public Builder trustedKey(PublicKey key) {
      trustedKeys.put(SigningKeys.keyId(key), key);
      return this;
    }

    /** Trusts the public key in a PEM file, as {@code bonestream keygen} writes it ({@code .pub}). */
    public Builder trustedKeyFile(Path pem) {
      try {
        return trustedKey(SigningKeys.readPublicKey(pem));
      } catch (IllegalArgumentException e) {
        throw new BonestreamException(e.getMessage());
      }
    }

    /**
     * Serves unsigned manifests, checking no signature (signed manifests are served too). A
     * subscriber either trusts keys or allows unsigned manifests, never both.
     */
    public Builder allowUnsigned(boolean v) {
      allowUnsigned = v;
      return this;
    }

    public AdapterSubscriber build() {
      if (bootstrapServers.isBlank()) {
        throw new BonestreamException("the subscriber needs Kafka bootstrap servers");
      }
      if (topic.isBlank()) {
        throw new BonestreamException("the subscriber needs a topic");
      }
      if (baseModel == null) {
        throw new BonestreamException("the subscriber needs the base model its adapters belong to");
      }
      if (trustedKeys.isEmpty() && !allowUnsigned) {
        throw new BonestreamException("the subscriber needs trusted public keys to check the manifests' "
            + "signatures, or unsigned manifests allowed explicitly");
      }
      if (!trustedKeys.isEmpty() && allowUnsigned) {
        throw new BonestreamException("trusted keys and unsigned manifests exclude each other: with both, "
            + "anyone who can write the topic could have an unsigned manifest served");
      }
      return new AdapterSubscriber(this);
    }
  }
}
