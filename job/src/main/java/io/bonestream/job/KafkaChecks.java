package io.bonestream.job;

import io.bonestream.core.BonestreamException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.KafkaException;

/**
 * A command's look at Kafka before it does its work, and the one line it prints when Kafka is not
 * there: no broker at the address, or no such topic. Kafka's own words for both ("Topic T not
 * present in metadata after 60000 ms", "Timed out waiting for a node assignment") come after a
 * minute's wait, once per record or once per job failover.
 */
public final class KafkaChecks {
  private KafkaChecks() {}

  /**
   * Fails with one line unless a broker at {@code bootstrap} answers within the client's
   * {@code default.api.timeout.ms} (30 s where unset); {@code where} names the setting.
   */
  public static void requireAnswer(String bootstrap, Properties extra, String where) {
    long waitMs;
    try {
      waitMs = Long.parseLong(extra.getProperty("default.api.timeout.ms", "30000").strip());
    } catch (NumberFormatException e) {
      throw new BonestreamException("default.api.timeout.ms (" + where + "'s client properties) is not a number of"
          + " milliseconds: '" + extra.getProperty("default.api.timeout.ms") + "'");
    }
    Admin admin = admin(bootstrap, extra, waitMs);
    try {
      admin.describeCluster().nodes().get(waitMs, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BonestreamException("interrupted");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
        throw new BonestreamException(noAnswer(bootstrap, waitMs, where));
      }
      throw new BonestreamException("Kafka at " + bootstrap + " refused this client (" + where + "): "
          + e.getCause().getMessage());
    } catch (TimeoutException e) {
      throw new BonestreamException(noAnswer(bootstrap, waitMs, where));
    } finally {
      admin.close(Duration.ofSeconds(2));
    }
  }

  /**
   * Waits (up to the producer's {@code max.block.ms}) until {@code p} knows {@code topic}'s
   * partitions, before a command sends anything: otherwise each {@code send} of a long file would
   * wait that long on its own for a broker that does not answer or a topic that is not there.
   */
  public static void awaitTopic(KafkaProducer<byte[], byte[]> p, String bootstrap, Properties extra, String topic) {
    try {
      p.partitionsFor(topic);
    } catch (KafkaException e) {
      throw new BonestreamException(sendFailure(bootstrap, extra, topic, e));
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
    Admin admin = admin(bootstrap, extra, 3000);
    try {
      admin.describeCluster().nodes().get(3, TimeUnit.SECONDS);
      boolean exists = admin.listTopics().names().get(3, TimeUnit.SECONDS).contains(topic);
      return exists ? "cannot send to " + topic + " at " + bootstrap + ": " + why
          : "no topic " + topic + " at " + bootstrap + " (this command does not create topics)";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    } catch (ExecutionException | TimeoutException e) {
      return "no answer from Kafka at " + bootstrap;
    } finally {
      admin.close(Duration.ofSeconds(2));
    }
  }

  /** An admin client with the command's settings whose calls end within {@code waitMs}. */
  private static Admin admin(String bootstrap, Properties extra, long waitMs) {
    Properties p = new Properties();
    p.putAll(extra);
    p.put("bootstrap.servers", bootstrap);
    p.put("default.api.timeout.ms", String.valueOf(waitMs));
    p.put("request.timeout.ms", String.valueOf(Math.min(waitMs, 30_000)));
    return Admin.create(p);
  }

  private static String noAnswer(String bootstrap, long waitMs, String where) {
    return "no answer from Kafka at " + bootstrap + " within "
        + (waitMs % 1000 == 0 ? waitMs / 1000 + " s" : waitMs + " ms") + " (" + where + ")";
  }
}
