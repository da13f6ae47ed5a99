package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.job.JobConfig;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.InputLimits;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.KafkaInputDeserializer;
import io.bonestream.operators.decode.RecordCheck;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "inspect", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Shows how the first records of a topic decode, exactly as the job would decode them: the adapter,",
        "the tokens and which of them are targets («…»), or why a record would be dead-lettered.",
        "Reads from the beginning without a consumer group; changes nothing."})
final class InspectCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--bootstrap", paramLabel = "HOST:PORT", description = "Kafka bootstrap servers (default: job.yaml's)")
  String bootstrap;

  @Option(names = "--topic", required = true, paramLabel = "T", description = "the topic to read")
  String topic;

  @Option(names = "--records", defaultValue = "10", paramLabel = "N", description = "how many (default: ${DEFAULT-VALUE})")
  int records;

  @Option(names = "--config", paramLabel = "job.yaml",
      description = "read the topic as this job's input for it says (and its model, max-seq-len and limits)")
  Path config;

  @Option(names = "--model", defaultValue = "models/stories260K", paramLabel = "DIR",
      description = "the model whose tokenizer the job uses (default: the bundled stories260K)")
  Path model;

  @Option(names = "--max-seq-len", defaultValue = "512", paramLabel = "N",
      description = "tokens per example, as the job's max-seq-len (default: ${DEFAULT-VALUE})")
  int maxSeqLen;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Option(names = "--timeout", defaultValue = "30s", paramLabel = "D",
      description = "how long to wait for Kafka and the records (default: ${DEFAULT-VALUE})")
  String timeout;

  @Mixin InputOptions input;

  @Override
  public Integer call() {
    if (records < 1) {
      throw new BonestreamException("--records must be at least 1");
    }
    Duration wait = io.bonestream.core.util.Durations.parse(timeout, "--timeout");
    InputSpec inputSpec;
    Path modelDir;
    int seqLen;
    InputLimits limits;
    Properties kafka;
    String servers;
    if (config != null) {
      // the job's input says how the topic is read: options that would say otherwise are a mistake
      for (String o : List.of("--format", "--shape", "--field", "--message-names", "--adapter-id", "--example-id",
          "--weight", "--event-time", "--registry-url", "--model", "--max-seq-len", "--kafka-config")) {
        if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
          throw new BonestreamException("--config reads the topic as the job's input for it says: drop " + o);
        }
      }
      JobConfig c = JobConfig.read(config, false);
      inputSpec = c.job().inputs().stream().filter(i -> i.reads(topic)).findFirst().orElseThrow(() ->
          new BonestreamException(config + " has no input that reads topic " + topic));
      modelDir = Path.of(c.job().modelDir());
      seqLen = c.job().maxSeqLen();
      limits = c.job().inputLimits();
      kafka = c.job().kafkaProperties();
      servers = bootstrap != null ? bootstrap : c.job().bootstrapServers();
    } else {
      if (bootstrap == null) {
        throw new BonestreamException("give --bootstrap (or --config job.yaml)");
      }
      input.checkReadingAppliesToFormat();
      inputSpec = input.spec(topic);
      modelDir = model.isAbsolute() ? model : DemoCommand.resolveModel(model);
      seqLen = maxSeqLen;
      limits = InputLimits.DEFAULT;
      kafka = KafkaProperties.load(kafkaConfig);
      servers = bootstrap;
    }
    PrintWriter out = spec.commandLine().getOut();
    out.println("reading " + topic + " at " + servers + " as " + inputSpec.describe() + "; adapter id from "
        + inputSpec.adapterId());
    List<ConsumerRecord<byte[], byte[]>> first = read(servers, kafka, wait);
    if (first.isEmpty()) {
      out.println("no records in " + topic);
      return 0;
    }
    Map<String, Integer> deadLetters = new TreeMap<>();
    int accepted = 0;
    try (RecordCheck check = RecordCheck.open(modelDir, seqLen, limits, List.of(inputSpec))) {
      int n = 0;
      for (ConsumerRecord<byte[], byte[]> r : first) {
        KafkaInput in = KafkaInputDeserializer.toInput(r);
        out.println("#" + (++n) + " partition " + r.partition() + " offset " + r.offset()
            + (r.key() == null ? "" : " key " + quoted(r.key())) + ", " + r.serializedValueSize() + " bytes");
        RecordCheck.Outcome o = check.check(in);
        if (o.accepted()) {
          accepted++;
          TrainingItem item = o.item();
          out.println("  accepted: adapter " + item.adapterId + ", example " + item.exampleId
              + (item.userId == null ? "" : ", user " + item.userId) + ", weight "
              + item.weight + ", " + (item.eventTime == Long.MIN_VALUE ? "no event time"
              : "event time " + Instant.ofEpochMilli(item.eventTime)));
          long targets = java.util.Arrays.stream(item.labels).skip(1).filter(l -> l >= 0).count();
          out.println("  " + item.inputIds.length + " tokens, " + targets + " targets: "
              + render(check.tokenizer(), item.inputIds, item.labels));
        } else {
          deadLetters.merge(o.reason().name(), 1, Integer::sum);
          out.println("  dead letter " + o.reason() + ": " + o.message());
        }
      }
    }
    out.println(accepted + " accepted, " + deadLetters.values().stream().mapToInt(Integer::intValue).sum()
        + " dead letters" + (deadLetters.isEmpty() ? "" : " " + deadLetters));
    return 0;
  }

  /** The first records of every partition, in partition then offset order, at most {@link #records}. */
  private List<ConsumerRecord<byte[], byte[]>> read(String servers, Properties kafka, Duration wait) {
    List<ConsumerRecord<byte[], byte[]>> all = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = KafkaClients.committedReader(servers, kafka)) {
      List<PartitionInfo> infos = c.partitionsFor(topic, wait);
      if (infos == null || infos.isEmpty()) {
        throw new BonestreamException("topic " + topic + " not found at " + servers);
      }
      List<TopicPartition> parts = infos.stream().map(p -> new TopicPartition(topic, p.partition()))
          .sorted(java.util.Comparator.comparingInt(TopicPartition::partition)).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts, wait);
      long deadline = System.nanoTime() + wait.toNanos();
      while (all.size() < records && System.nanoTime() < deadline
          && parts.stream().anyMatch(p -> c.position(p, wait) < end.get(p))) {
        c.poll(Duration.ofMillis(200)).forEach(all::add);
      }
    } catch (org.apache.kafka.common.errors.TimeoutException e) {
      throw new BonestreamException("no answer from Kafka at " + servers + " within " + timeout);
    }
    all.sort(java.util.Comparator.<ConsumerRecord<byte[], byte[]>>comparingInt(ConsumerRecord::partition)
        .thenComparingLong(ConsumerRecord::offset));
    return all.subList(0, Math.min(records, all.size()));
  }

  /** The tokens as text, target runs in «…», BOS and EOS by name. */
  static String render(Tokenizer tok, int[] ids, int[] labels) {
    StringBuilder s = new StringBuilder();
    int i = 0;
    while (i < ids.length) {
      boolean target = i > 0 && labels[i] >= 0;
      int j = i;
      while (j < ids.length && (j > 0 && labels[j] >= 0) == target) {
        j++;
      }
      StringBuilder run = new StringBuilder();
      int from = i;
      for (int k = i; k < j; k++) {
        if (ids[k] == tok.bosId() || ids[k] == tok.eosId()) {
          run.append(tok.decode(java.util.Arrays.copyOfRange(ids, from, k)));
          run.append(ids[k] == tok.bosId() ? tok.bosToken() : tok.eosToken());
          from = k + 1;
        }
      }
      run.append(tok.decode(java.util.Arrays.copyOfRange(ids, from, j)));
      s.append(target ? "«" + run + "»" : run);
      i = j;
    }
    return s.toString().replace("\n", "\\n");
  }

  private static String quoted(byte[] key) {
    String k = new String(key, StandardCharsets.UTF_8);
    return "\"" + (k.length() > 60 ? k.substring(0, 60) + "..." : k) + "\"";
  }
}
