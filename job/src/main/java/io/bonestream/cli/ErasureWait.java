package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.job.KafkaClients;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.Erasure;
import io.bonestream.schemas.ManifestSignatures;
import java.security.PublicKey;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code erase --wait}: the adapters topic read (committed versions only) from where it ended before
 * the request was written, until a version of the adapter lists the request in its {@code erasures};
 * with public keys, only versions signed with one of them count.
 */
final class ErasureWait implements AutoCloseable {
  private final KafkaConsumer<byte[], byte[]> consumer;
  private final String adaptersTopic;
  private final Map<String, PublicKey> trusted;

  /** Positioned at the adapters topic's end now, so that no version written after this is missed. */
  ErasureWait(String bootstrap, Properties props, String adaptersTopic, Map<String, PublicKey> trusted) {
    this.adaptersTopic = adaptersTopic;
    this.trusted = trusted;
    Properties p = new Properties();
    p.putAll(props);
    p.put("default.api.timeout.ms", "30000");
    consumer = KafkaClients.committedReader(bootstrap, p);
    try {
      List<TopicPartition> parts = consumer.partitionsFor(adaptersTopic, Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(adaptersTopic, i.partition())).toList();
      if (parts.isEmpty()) {
        throw new BonestreamException("adapters topic " + adaptersTopic + " not found at " + bootstrap
            + " (--adapters-topic)");
      }
      consumer.assign(parts);
      consumer.seekToEnd(parts);
      parts.forEach(consumer::position); // resolved now, before the request is written
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      consumer.close();
      throw new BonestreamException("no answer from Kafka at " + bootstrap);
    } catch (RuntimeException e) {
      consumer.close();
      throw e;
    }
  }

  /** The requests of one adapter to wait for: where they were written (one partition: keyed by adapter). */
  record Wanted(int partition, Set<Long> offsets) {}

  /**
   * For each adapter and each of its requests (written to {@code topic}), the first version of the
   * adapter that lists it, and that erasure; waits until every request is listed or {@code timeout}
   * passed (the answer then lacks those not listed).
   */
  Map<String, Map<Long, Found>> await(Map<String, Wanted> wanted, String topic, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, Map<Long, Found>> found = new TreeMap<>();
    int all = 0;
    for (Map.Entry<String, Wanted> w : wanted.entrySet()) {
      found.put(w.getKey(), new TreeMap<>());
      all += w.getValue().offsets().size();
    }
    int listed = 0;
    while (listed < all && System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        String adapter = r.key() == null ? null : new String(r.key(), java.nio.charset.StandardCharsets.UTF_8);
        Wanted w = adapter == null ? null : wanted.get(adapter);
        if (w == null) {
          continue; // another adapter's version (the topic is keyed by adapter id): not decoded
        }
        AdapterSnapshot m;
        try {
          m = KafkaClients.snapshot(r.value());
        } catch (RuntimeException notAManifest) {
          continue;
        }
        if (!m.getAdapterId().equals(adapter)
            || (!trusted.isEmpty() && ManifestSignatures.verify(r.value(), trusted).verdict()
                != ManifestSignatures.Verdict.VALID)) {
          continue;
        }
        Map<Long, Found> mine = found.get(adapter);
        for (Erasure e : m.getErasures()) {
          if (e.getTopic().equals(topic) && e.getPartition() == w.partition() && w.offsets().contains(e.getOffset())
              && mine.putIfAbsent(e.getOffset(), new Found(m.getVersion(), e)) == null) {
            listed++;
          }
        }
      }
    }
    return found;
  }

  /** A version that lists the request, and what it says was done. */
  record Found(long version, Erasure erasure) {
    /** Many requests' erasures, as one line. */
    static String describe(String adapter, java.util.Collection<Found> found) {
      java.util.SortedSet<Long> versions = new java.util.TreeSet<>();
      long buffered = 0;
      long replay = 0;
      long eval = 0;
      int retrained = 0;
      for (Found f : found) {
        versions.add(f.version());
        buffered += f.erasure().getRemovedBuffered();
        replay += f.erasure().getRemovedReplay();
        eval += f.erasure().getRemovedEval();
        retrained += f.erasure().getRetrained() ? 1 : 0;
      }
      return found.size() + " requests applied in " + adapter + "@" + versions.first()
          + (versions.size() > 1 ? " to " + adapter + "@" + versions.last() : "") + ": removed " + buffered
          + " buffered, " + replay + " replay and " + eval + " eval examples; " + retrained + " retrained";
    }

    /** Many adapters' erasures, as one line (a request to every adapter counted once). */
    static String describe(Map<String, Map<Long, Found>> found) {
      java.util.Set<Long> requests = new java.util.HashSet<>();
      long buffered = 0;
      long replay = 0;
      long eval = 0;
      int retrained = 0;
      for (Map<Long, Found> m : found.values()) {
        requests.addAll(m.keySet()); // by offset: one run writes to one topic
        for (Found f : m.values()) {
          buffered += f.erasure().getRemovedBuffered();
          replay += f.erasure().getRemovedReplay();
          eval += f.erasure().getRemovedEval();
          retrained += f.erasure().getRetrained() ? 1 : 0;
        }
      }
      return requests.size() + (requests.size() == 1 ? " request" : " requests") + " applied in " + found.size()
          + " adapters: removed " + buffered + " buffered, "
          + replay + " replay and " + eval + " eval examples; " + retrained + " retrained";
    }

    String describe(String adapter) {
      Erasure e = erasure;
      return "applied in " + adapter + "@" + version + ": removed " + e.getRemovedBuffered() + " buffered, "
          + e.getRemovedReplay() + " replay and " + e.getRemovedEval() + " eval examples; "
          + (e.getRetrained() ? "retrained: back to the version before, " + e.getDiscardedSteps() + " steps dropped"
              : "weights unchanged");
    }
  }

  @Override
  public void close() {
    consumer.close();
  }

  String topic() {
    return adaptersTopic;
  }
}
