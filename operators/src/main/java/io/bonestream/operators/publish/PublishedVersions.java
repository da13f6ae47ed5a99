package io.bonestream.operators.publish;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the adapters topic already holds: the newest committed version of each adapter. The
 * training operator reads it when it starts, so that an adapter never publishes a version number
 * twice, even when its Flink state was lost (a deleted checkpoint, a {@code --fresh} start) or is
 * older than what was published (an old savepoint restored).
 *
 * <p>Only committed manifests count ({@code read_committed}): versions of aborted transactions
 * were never published. Nor do manifests the job does not trust ({@link ReadBackCheck}): a record
 * key that is not the manifest's adapter id, an implausible version, a missing or foreign
 * signature where the job signs.
 */
public final class PublishedVersions implements PublishedSnapshots {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(PublishedVersions.class);
  private static final Duration SCAN_TIMEOUT = Duration.ofMinutes(5);

  private final String bootstrapServers;
  private final Properties kafkaProperties;
  private final String topic;

  public PublishedVersions(String bootstrapServers, Properties kafkaProperties, String topic) {
    this.bootstrapServers = bootstrapServers;
    this.kafkaProperties = kafkaProperties;
    this.topic = topic;
  }

  String topic() {
    return topic;
  }

  /**
   * Reads the topic from its beginning to its current end and returns, for each adapter id that
   * {@code owned} accepts, where its highest version that {@code check} accepts lies. Every other
   * manifest of an owned id goes to {@code refused} with its reason and is otherwise ignored: it
   * neither numbers versions nor is continued from.
   */
  @Override
  public Map<String, Ref> scan(Predicate<String> owned, ReadBackCheck check,
      BiConsumer<String, ReadBackCheck.Refusal> refused) {
    NewestVersions newest = new NewestVersions(owned, check, refused);
    long started = System.nanoTime();
    try (KafkaConsumer<byte[], byte[]> c = consumer()) {
      List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(60)).stream()
          .map(p -> new TopicPartition(topic, p.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      // with read_committed, the end is the last stable offset: nothing beyond it is published yet
      Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(60));
      long deadline = System.nanoTime() + SCAN_TIMEOUT.toNanos();
      while (!reached(c, end)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("reading the adapters topic " + topic + " took longer than "
              + SCAN_TIMEOUT.toMinutes() + " min");
        }
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          newest.offer(r.key(), r.value(), r.partition(), r.offset());
        }
      }
    }
    LOG.info("read {}: {} of this subtask's adapters have published versions ({} ms)", topic,
        newest.newest().size(), (System.nanoTime() - started) / 1_000_000);
    return newest.newest();
  }

  /** The manifest at {@code ref}. */
  @Override
  public AdapterSnapshot fetch(Ref ref) {
    TopicPartition tp = new TopicPartition(topic, ref.partition());
    try (KafkaConsumer<byte[], byte[]> c = consumer()) {
      c.assign(List.of(tp));
      c.seek(tp, ref.offset());
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (System.nanoTime() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          if (r.offset() == ref.offset()) {
            return AdapterSnapshots.decode(r.value());
          }
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot decode the manifest at " + tp + "@" + ref.offset(), e);
    }
    throw new IllegalStateException("the manifest at " + tp + "@" + ref.offset() + " could not be read");
  }

  private static boolean reached(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> end) {
    for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
      if (c.position(e.getKey()) < e.getValue()) {
        return false;
      }
    }
    return true;
  }

  private KafkaConsumer<byte[], byte[]> consumer() {
    Properties p = new Properties();
    // reading what was published creates nothing: the adapters topic is made by its first write (or an admin)
    p.put("allow.auto.create.topics", "false");
    p.putAll(kafkaProperties);
    p.put("bootstrap.servers", bootstrapServers);
    p.put("isolation.level", "read_committed");
    p.put("enable.auto.commit", "false");
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    p.put("max.partition.fetch.bytes", Integer.toString(16 << 20));
    return new KafkaConsumer<>(p);
  }
}
