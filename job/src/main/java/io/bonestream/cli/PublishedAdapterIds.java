package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.operators.publish.PublishedVersions;
import io.bonestream.operators.publish.ReadBackCheck;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import org.apache.kafka.common.KafkaException;

/**
 * {@code erase --all-adapters --wait}: the ids of the adapters that have a committed version on the
 * adapters topic (those whose versions the command waits for), read as the job reads it back at start
 * ({@link PublishedVersions#scan}: from the beginning to the end, each record a manifest under its own
 * adapter's key, bounded in time; not signature-checked: the ids only choose whose versions to read, and
 * {@code --public-key} checks those).
 */
final class PublishedAdapterIds {
  private PublishedAdapterIds() {}

  static List<String> read(String bootstrap, Properties props, String topic) {
    TreeSet<String> ids;
    try {
      ids = new TreeSet<>(new PublishedVersions(bootstrap, props, topic)
          .scan(id -> true, ReadBackCheck.of(null, List.of()), (id, refusal) -> { }).keySet());
    } catch (KafkaException | IllegalStateException e) {
      throw new BonestreamException("cannot read the adapters topic " + topic + " at " + bootstrap + ": "
          + e.getMessage());
    }
    return List.copyOf(ids);
  }
}
