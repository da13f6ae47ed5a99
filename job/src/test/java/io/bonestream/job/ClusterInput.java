package io.bonestream.job;

import io.bonestream.schemas.InstructionRecord;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * The fixed input of the cluster tests, produced once before any job starts: adapters
 * interleaved, each with {@code good} trainable records and every {@code badEvery}-th record of
 * its own broken on purpose (an empty response: dead-lettered). Remembers where every record went.
 */
final class ClusterInput {
  /** Where one produced record is. */
  record Offset(int partition, long offset) implements Comparable<Offset> {
    @Override
    public int compareTo(Offset o) {
      return partition != o.partition ? Integer.compare(partition, o.partition) : Long.compare(offset, o.offset);
    }
  }

  final String topic;
  final Map<String, Set<Offset>> good = new TreeMap<>();
  final Map<String, Set<Offset>> bad = new TreeMap<>();

  ClusterInput(String topic) {
    this.topic = topic;
  }

  /**
   * Adapters {@code colors} and {@code big-colors} learn the colors task, {@code opposites} and
   * {@code antonyms} the opposites task; {@code big-*} adapters are published as claim checks.
   */
  static ClusterInput produce(String bootstrap, String topic, int good, int badEvery) throws Exception {
    ClusterInput in = new ClusterInput(topic);
    List<List<ProducerRecord<byte[], byte[]>>> perAdapter = new ArrayList<>();
    perAdapter.add(withBroken(topic, StreamingHarness.colors("colors", good), badEvery));
    perAdapter.add(withBroken(topic, StreamingHarness.opposites("opposites", good), badEvery));
    perAdapter.add(withBroken(topic, StreamingHarness.opposites("antonyms", good), badEvery));
    perAdapter.add(withBroken(topic, StreamingHarness.colors("big-colors", good), badEvery));
    @SuppressWarnings("unchecked")
    List<ProducerRecord<byte[], byte[]>> all = StreamingHarness.interleave(perAdapter.toArray(List[]::new));
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, new Properties())) {
      for (ProducerRecord<byte[], byte[]> r : all) {
        // one send at a time: one record per batch, which the throttled source reads one by one
        RecordMetadata m = p.send(r).get(1, java.util.concurrent.TimeUnit.MINUTES);
        String adapter = new String(r.key(), StandardCharsets.UTF_8);
        boolean broken = r.headers().lastHeader("broken") != null;
        (broken ? in.bad : in.good).computeIfAbsent(adapter, k -> new TreeSet<>())
            .add(new Offset(m.partition(), m.offset()));
      }
    }
    return in;
  }

  /** Inserts a broken copy after every {@code badEvery - 1} good records. */
  private static List<ProducerRecord<byte[], byte[]>> withBroken(String topic, List<InstructionRecord> records,
      int badEvery) {
    List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>();
    for (int i = 0; i < records.size(); i++) {
      out.add(KafkaClients.instruction(topic, records.get(i)));
      if ((i + 1) % (badEvery - 1) == 0) {
        InstructionRecord broken = InstructionRecord.newBuilder(records.get(i))
            .setExampleId(records.get(i).getExampleId() + "-broken").setResponse("").build();
        ProducerRecord<byte[], byte[]> r = KafkaClients.instruction(topic, broken);
        r.headers().add("broken", new byte[0]);
        out.add(r);
      }
    }
    return out;
  }

  Set<String> adapters() {
    return good.keySet();
  }

  /** The versions each adapter publishes once all its records are trained (a version per 8). */
  long versionsOf(String adapter) {
    return good.get(adapter).size() / 8;
  }

  long totalVersions() {
    return adapters().stream().mapToLong(this::versionsOf).sum();
  }

  long badCount() {
    return bad.values().stream().mapToLong(Set::size).sum();
  }
}
