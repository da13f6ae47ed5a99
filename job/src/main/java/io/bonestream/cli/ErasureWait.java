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
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.jspecify.annotations.Nullable;

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

  /**
   * The first version of {@code adapter} that lists the request read at {@code topic}, {@code
   * partition}, {@code offset}, and that erasure; null when none came within {@code timeout}.
   */
  @Nullable Found await(String adapter, String topic, int partition, long offset, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    byte[] key = adapter.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    while (System.nanoTime() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
        if (!java.util.Arrays.equals(r.key(), key)) {
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
        for (Erasure e : m.getErasures()) {
          if (e.getTopic().equals(topic) && e.getPartition() == partition && e.getOffset() == offset) {
            return new Found(m.getVersion(), e);
          }
        }
      }
    }
    return null;
  }

  /** A version that lists the request, and what it says was done. */
  record Found(long version, Erasure erasure) {
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
