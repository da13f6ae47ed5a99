package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.HostModel;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.io.IOException;
import java.nio.file.Path;
import java.security.PublicKey;
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
 *
 * <p>With a state folder ({@link Builder#stateDir}) it keeps each adapter's last accepted manifest
 * and the highest version it ever accepted: a restart serves those first (verified again) and
 * never a version below them, whatever compaction, a replayed old manifest or a tombstone
 * left on the topic. If following the topic fails, it starts again with a growing pause (1 s to
 * 1 min), not ready meanwhile, counting each restart.
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
  private final @Nullable SubscriberState state;
  private final Map<String, Long> floors = new java.util.concurrent.ConcurrentHashMap<>();
  private final Map<TopicPartition, Long> positions = new java.util.concurrent.ConcurrentHashMap<>();
  private final Object pause = new Object();
  private volatile boolean running;
  private volatile boolean following;
  private volatile @Nullable KafkaConsumer<byte[], byte[]> consumer;
  private @Nullable Thread thread;
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(AdapterSubscriber.class);
  static final long FIRST_BACKOFF_MILLIS = 1000;
  static final long MAX_BACKOFF_MILLIS = 60_000;

  private AdapterSubscriber(Builder b) {
    this.bootstrapServers = b.bootstrapServers;
    this.topic = b.topic;
    this.kafkaProperties = b.kafkaProperties;
    this.registry = b.registry != null ? b.registry : AdapterRegistry.builder().build();
    this.metrics = b.metrics;
    this.trustedKeys = Map.copyOf(b.trustedKeys);
    this.state = b.stateDir == null ? null : new SubscriberState(b.stateDir);
    SubscriberMetrics m = b.metrics;
    if (m != null) {
      m.following(this::isFollowing);
    }
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

  /**
   * Starts following the topic on a background thread; with a state folder, first serves the
   * versions kept there.
   */
  public synchronized AdapterSubscriber start() {
    if (thread != null) {
      throw new IllegalStateException("already started");
    }
    if (state != null) {
      floors.putAll(state.floors());
      state.manifests().forEach((id, manifest) -> apply(id.getBytes(java.nio.charset.StandardCharsets.UTF_8),
          manifest, "kept in " + state.dir()));
    }
    KafkaConsumer<byte[], byte[]> c = newConsumer();
    Map<TopicPartition, Long> end;
    try {
      end = c.endOffsets(c.assignment());
    } catch (RuntimeException e) {
      c.close();
      throw new BonestreamException("cannot read topic " + topic + " at " + bootstrapServers + ": " + e.getMessage());
    }
    consumer = c;
    running = true;
    following = true;
    thread = new Thread(() -> follow(c, end), "adapter-subscriber-" + topic);
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /** A consumer assigned every partition, at the positions read so far (else the beginning). */
  private KafkaConsumer<byte[], byte[]> newConsumer() {
    Properties p = new Properties();
    p.put("group.id", "bonestream-subscriber-" + UUID.randomUUID());
    p.put("enable.auto.commit", "false");
    // a subscriber never creates the topic it follows: a mistyped name is an error, not a new empty topic
    p.put("allow.auto.create.topics", "false");
    p.putAll(kafkaProperties);
    p.put("bootstrap.servers", bootstrapServers);
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p);
    List<TopicPartition> parts;
    // the client's own bound where it sets one (default.api.timeout.ms), else 30 s
    Duration wait = Duration.ofMillis(Long.parseLong(p.getProperty("default.api.timeout.ms", "30000")));
    try {
      parts = c.partitionsFor(topic, wait).stream()
          .map(i -> new TopicPartition(topic, i.partition())).toList();
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      c.close();
      throw new BonestreamException("no answer from Kafka at " + bootstrapServers + " within "
          + (wait.toMillis() % 1000 == 0 ? wait.toSeconds() + " s" : wait.toMillis() + " ms") + " (topic " + topic + ")");
    } catch (RuntimeException e) {
      c.close();
      throw new BonestreamException("cannot read topic " + topic + " at " + bootstrapServers + ": " + e.getMessage());
    }
    if (parts.isEmpty()) {
      c.close();
      throw new BonestreamException("topic " + topic + " not found at " + bootstrapServers);
    }
    c.assign(parts);
    for (TopicPartition tp : parts) {
      Long at = positions.get(tp);
      if (at == null) {
        c.seekToBeginning(List.of(tp));
      } else {
        c.seek(tp, at);
      }
    }
    return c;
  }

  private void follow(KafkaConsumer<byte[], byte[]> first, Map<TopicPartition, Long> startEnd) {
    KafkaConsumer<byte[], byte[]> c = first;
    long backoff = FIRST_BACKOFF_MILLIS;
    while (running) {
      try {
        if (c == null) {
          c = newConsumer();
          consumer = c;
          if (!running) {
            break; // closed while it was being made: close() woke none
          }
          following = true;
          LOG.info("following topic {} again", topic);
        }
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          apply(r);
          positions.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
        }
        backoff = FIRST_BACKOFF_MILLIS;
        if (ready.getCount() > 0 && caughtUp(c, startEnd)) {
          ready.countDown();
        }
      } catch (WakeupException e) {
        // closing (or a stray wakeup: the loop checks running)
      } catch (RuntimeException | AssertionError | LinkageError e) {
        // a client failure, or an error from a listener (their exceptions are caught one by one in
        // the registry); not the JVM's own errors (out of memory, stack overflow)
        following = false;
        if (metrics != null) {
          metrics.followRestarted();
        }
        LOG.warn("following topic {} failed ({}): starting again in {} ms", topic, e.toString(), backoff);
        closeQuietly(c);
        c = null;
        consumer = null;
        synchronized (pause) {
          try {
            if (running) {
              pause.wait(backoff);
            }
          } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            break;
          }
        }
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
      }
    }
    closeQuietly(c);
    following = false;
  }

  private static void closeQuietly(@Nullable KafkaConsumer<byte[], byte[]> c) {
    if (c != null) {
      try {
        c.close(Duration.ofSeconds(5));
      } catch (RuntimeException ignored) {
        // already broken
      }
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
    apply(r.key(), r.value(), "offset " + r.offset());
  }

  /** Verifies, loads and serves (or refuses) one manifest, read at {@code where}. */
  private void apply(byte @Nullable [] key, byte @Nullable [] value, String where) {
    long started = System.nanoTime();
    AdapterSnapshot m;
    try {
      m = AdapterSnapshots.decode(value);
    } catch (IOException | RuntimeException e) {
      String id = key == null ? "?" : AdapterIds.printable(new String(key, java.nio.charset.StandardCharsets.UTF_8));
      refused(AdapterIds.isValid(id) ? id : "?", -1, RefusalReason.INVALID_MANIFEST, where + ": "
          + (value == null ? "a tombstone (ignored: adapters are never deleted by a record)" : e.getMessage()));
      return;
    }
    if (!AdapterIds.isValid(m.getAdapterId())) {
      // ids become file names (exports) and metric labels: nothing but a valid one goes further
      refused("?", m.getVersion(), RefusalReason.INVALID_MANIFEST, where
          + ": the adapter id is not 1-128 characters of [A-Za-z0-9._-] (nor . or ..)");
      return;
    }
    var latest = registry.latest(m.getAdapterId());
    if (latest.isPresent() && latest.get().version() >= m.getVersion()) {
      return; // already served (a duplicate in a compacted log); older ones never come in order
    }
    Long floor = floors.get(m.getAdapterId());
    if (floor != null && m.getVersion() < floor) {
      refused(m.getAdapterId(), m.getVersion(), RefusalReason.OUT_OF_ORDER, m.getAdapterId() + "@" + m.getVersion()
          + ": this subscriber already accepted version " + floor + " (a replayed or rolled-back manifest)");
      return;
    }
    if (!trustedKeys.isEmpty()) {
      ManifestSignatures.Check check = ManifestSignatures.verify(value, trustedKeys);
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
      // kept before it is served (and before listeners hear of it): a crash after serving it
      // cannot forget it; the version is newer than the latest held (checked above)
      if (state != null) {
        state.accepted(v.adapterId(), v.version(), value);
      }
      floors.merge(v.adapterId(), v.version(), Math::max);
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

  /** Caught up once, and following the topic now (not while a failed follow loop pauses to restart). */
  public boolean isReady() {
    return ready.getCount() == 0 && following;
  }

  /** Whether the follow loop runs now (false while it pauses after a failure, and once closed). */
  public boolean isFollowing() {
    return following;
  }

  @Override
  public synchronized void close() {
    running = false;
    synchronized (pause) {
      pause.notifyAll();
    }
    KafkaConsumer<byte[], byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
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
    private @Nullable HostModel baseModel;
    private @Nullable AdapterRegistry registry;
    private final Map<String, BlobFetcher> fetchers = new HashMap<>(Map.of("file", BlobFetcher.FILE));
    private SnapshotVerifier verifier = SnapshotVerifier.NONE;
    private @Nullable SubscriberMetrics metrics;
    private final Map<String, PublicKey> trustedKeys = new HashMap<>();
    private boolean allowUnsigned;
    private @Nullable Path stateDir;

    /**
     * Keeps each adapter's last accepted manifest and highest accepted version in this folder, so
     * that a restart never serves a lower version and still serves an adapter the topic lost.
     */
    public Builder stateDir(@Nullable Path v) {
      stateDir = v;
      return this;
    }

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
    public Builder baseModel(HostModel v) {
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
