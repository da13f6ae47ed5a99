package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.job.KafkaClients;
import io.bonestream.schemas.AdapterIds;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code erase --all-adapters}: the ids of the adapters that have a committed version on the
 * adapters topic (its records' keys), read from its beginning to its end within two minutes.
 */
final class PublishedAdapterIds {
  private static final Duration TIMEOUT = Duration.ofMinutes(2);

  private PublishedAdapterIds() {}

  static List<String> read(String bootstrap, Properties props, String topic) {
    Properties p = new Properties();
    p.putAll(props);
    p.put("default.api.timeout.ms", "30000");
    TreeSet<String> ids = new TreeSet<>();
    try (KafkaConsumer<byte[], byte[]> c = KafkaClients.committedReader(bootstrap, p)) {
      List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(topic, i.partition())).toList();
      if (parts.isEmpty()) {
        throw new BonestreamException("adapters topic " + topic + " not found at " + bootstrap + " (--adapters-topic)");
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(30)); // read_committed: the last stable
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (!reached(c, end)) {
        if (System.nanoTime() > deadline) {
          throw new BonestreamException("reading the adapters topic " + topic + " took longer than "
              + TIMEOUT.toMinutes() + " min");
        }
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (r.key() != null && r.value() != null) {
            String id = new String(r.key(), StandardCharsets.UTF_8);
            if (AdapterIds.isValid(id)) { // a record of another kind is not an adapter's
              ids.add(id);
            }
          }
        }
      }
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      throw new BonestreamException("no answer from Kafka at " + bootstrap);
    }
    if (ids.isEmpty()) {
      throw new BonestreamException("no adapter has a version on " + topic + ": nothing to erase from");
    }
    return List.copyOf(ids);
  }

  private static boolean reached(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (c.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }
}
