package io.bonestream.job;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InstructionRecord;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Small helpers around the Kafka clients: producing instructions, reading manifests. */
public final class KafkaClients {
  private KafkaClients() {}

  public static KafkaProducer<byte[], byte[]> producer(String bootstrap, Properties extra) {
    Properties p = new Properties();
    p.putAll(extra);
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", ByteArraySerializer.class.getName());
    p.put("value.serializer", ByteArraySerializer.class.getName());
    p.put("acks", "all");
    p.put("enable.idempotence", "true");
    return new KafkaProducer<>(p);
  }

  /**
   * A consumer that reads only committed records from the beginning, under a throwaway group;
   * {@code extra} client properties override these defaults.
   */
  public static KafkaConsumer<byte[], byte[]> committedReader(String bootstrap, Properties extra) {
    Properties p = new Properties();
    p.put("isolation.level", "read_committed");
    p.put("enable.auto.commit", "false");
    p.put("auto.offset.reset", "earliest");
    p.put("group.id", "bonestream-reader-" + UUID.randomUUID());
    // a reader never creates the topic it asks about (a mistyped name on a broker that creates topics on first use)
    p.put("allow.auto.create.topics", "false");
    p.putAll(extra);
    p.put("bootstrap.servers", bootstrap);
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    return new KafkaConsumer<>(p);
  }

  public static ProducerRecord<byte[], byte[]> instruction(String topic, InstructionRecord r) {
    try {
      ByteBuffer b = InstructionRecord.getEncoder().encode(r);
      byte[] value = new byte[b.remaining()];
      b.get(value);
      return new ProducerRecord<>(topic, r.getAdapterId().getBytes(StandardCharsets.UTF_8), value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static AdapterSnapshot snapshot(byte[] value) {
    try {
      return io.bonestream.schemas.AdapterSnapshots.decode(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Reads a topic from the beginning until {@code done} says so or the time runs out. */
  public static List<ConsumerRecord<byte[], byte[]>> readUntil(String bootstrap, String topic,
      Duration timeout, java.util.function.Predicate<List<ConsumerRecord<byte[], byte[]>>> done) {
    List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = committedReader(bootstrap, new Properties())) {
      c.subscribe(List.of(topic));
      long deadline = System.nanoTime() + timeout.toNanos();
      while (System.nanoTime() < deadline && !done.test(all)) {
        c.poll(Duration.ofMillis(200)).forEach(all::add);
      }
    }
    return all;
  }

  /**
   * Reads every partition of a topic from the beginning (no consumer group, so no rebalance wait)
   * and hands each record over, until stopped. A topic that does not exist yet is waited for (its
   * first writer creates it).
   */
  public static void follow(KafkaConsumer<byte[], byte[]> c, String topic,
      Consumer<ConsumerRecord<byte[], byte[]>> onRecord, java.util.function.BooleanSupplier stop) {
    List<org.apache.kafka.common.TopicPartition> parts = List.of();
    while (parts.isEmpty()) {
      if (stop.getAsBoolean()) {
        return;
      }
      parts = c.partitionsFor(topic).stream()
          .map(p -> new org.apache.kafka.common.TopicPartition(topic, p.partition())).toList();
      if (parts.isEmpty()) {
        try {
          Thread.sleep(200);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
    c.assign(parts);
    c.seekToBeginning(parts);
    while (!stop.getAsBoolean()) {
      c.poll(Duration.ofMillis(200)).forEach(onRecord);
    }
  }

}
