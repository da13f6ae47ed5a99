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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
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
   * Fails with one line unless a broker at {@code bootstrap} answers within the client's
   * {@code default.api.timeout.ms} (30 s where unset): a job started on a wrong address would
   * otherwise fail over again and again, each time with a page of stack traces.
   */
  public static void requireAnswer(String bootstrap, Properties extra, String where) {
    Properties p = new Properties();
    p.putAll(extra);
    p.put("bootstrap.servers", bootstrap);
    long waitMs = Long.parseLong(p.getProperty("default.api.timeout.ms", "30000"));
    p.putIfAbsent("default.api.timeout.ms", String.valueOf(waitMs));
    p.put("request.timeout.ms", String.valueOf(Math.min(waitMs, 30_000)));
    Admin admin = Admin.create(p);
    try {
      admin.describeCluster().nodes().get(waitMs, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new io.bonestream.core.BonestreamException("interrupted");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
        throw new io.bonestream.core.BonestreamException(noAnswer(bootstrap, waitMs, where));
      }
      throw new io.bonestream.core.BonestreamException("Kafka at " + bootstrap + " refused this client ("
          + where + "): " + e.getCause().getMessage());
    } catch (java.util.concurrent.TimeoutException e) {
      throw new io.bonestream.core.BonestreamException(noAnswer(bootstrap, waitMs, where));
    } finally {
      admin.close(Duration.ofSeconds(2));
    }
  }

  private static String noAnswer(String bootstrap, long waitMs, String where) {
    return "no answer from Kafka at " + bootstrap + " within "
        + (waitMs % 1000 == 0 ? waitMs / 1000 + " s" : waitMs + " ms")
        + " (" + where + ")";
  }

  /**
   * Waits (up to the producer's {@code max.block.ms}) until {@code p} knows {@code topic}'s
   * partitions, before a command sends anything: otherwise each {@code send} of a long file would
   * wait that long on its own for a broker that does not answer or a topic that is not there.
   */
  public static void awaitTopic(KafkaProducer<byte[], byte[]> p, String bootstrap, Properties extra, String topic) {
    try {
      p.partitionsFor(topic);
    } catch (org.apache.kafka.common.KafkaException e) {
      throw new io.bonestream.core.BonestreamException(sendFailure(bootstrap, extra, topic, e));
    }
  }

  /**
   * Why a send to {@code topic} failed, for a command's one-line error. The producer's "Topic T not
   * present in metadata after N ms" means that no broker answered, or that the topic does not exist
   * where the broker does not create topics on first use: a short look with an admin client says
   * which.
   */
  public static String sendFailure(String bootstrap, Properties extra, String topic, Throwable cause) {
    String why = String.valueOf(cause.getMessage());
    if (!(cause instanceof org.apache.kafka.common.errors.TimeoutException && why.contains("not present in metadata"))) {
      return "cannot send to " + topic + " at " + bootstrap + ": " + why;
    }
    Properties p = new Properties();
    p.putAll(extra);
    p.put("bootstrap.servers", bootstrap);
    p.put("request.timeout.ms", "3000");
    p.put("default.api.timeout.ms", "3000");
    Admin admin = Admin.create(p);
    try {
      admin.describeCluster().nodes().get(3, TimeUnit.SECONDS);
      boolean exists = admin.listTopics().names().get(3, TimeUnit.SECONDS).contains(topic);
      return exists ? "cannot send to " + topic + " at " + bootstrap + ": " + why
          : "no topic " + topic + " at " + bootstrap + " (this command does not create topics)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
      return "no answer from Kafka at " + bootstrap;
    } finally {
      admin.close(Duration.ofSeconds(2));
    }
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
