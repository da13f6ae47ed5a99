package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import io.bonestream.job.InstructionRecords;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.InstructionRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

@Command(name = "produce", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Loads a JSONL file (the formats of 'train') into the instructions topic as Avro.",
        "Every line is checked first: a bad line sends nothing."})
final class ProduceCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.INSTRUCTIONS_TOPIC, paramLabel = "T",
      description = "(default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--adapter", required = true, paramLabel = "ID", description = "the adapter the records train")
  String adapter;

  @Option(names = "--file", required = true, paramLabel = "data.jsonl", description = "records, one JSON object per line")
  Path file;

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Override
  public Integer call() throws Exception {
    if (!AdapterIds.isValid(adapter)) {
      throw new BonestreamException("adapter id '" + adapter + "' is not 1-128 characters of [A-Za-z0-9._-]");
    }
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (NoSuchFileException e) {
      throw new BonestreamException("data file not found: " + file);
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    List<InstructionRecord> records = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) {
        continue;
      }
      try {
        records.add(InstructionRecords.fromJson(Json.MAPPER.readTree(lines.get(i)), adapter,
            file.getFileName() + ":" + (i + 1)));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new BonestreamException(file + " line " + (i + 1) + ": malformed JSON ("
            + e.getOriginalMessage().split("\n")[0] + ")");
      } catch (BonestreamException e) {
        throw new BonestreamException(file + " line " + (i + 1) + ": " + e.getMessage());
      }
    }
    if (records.isEmpty()) {
      throw new BonestreamException(file + " holds no records");
    }
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, KafkaProperties.load(kafkaConfig))) {
      List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
      for (InstructionRecord r : records) {
        sent.add(p.send(KafkaClients.instruction(topic, r)));
      }
      p.flush();
      for (var f : sent) {
        try {
          f.get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
          throw new BonestreamException("cannot send to " + topic + " at " + bootstrap + ": "
              + e.getCause().getMessage());
        } catch (java.util.concurrent.TimeoutException e) {
          throw new BonestreamException("no answer from Kafka at " + bootstrap + " within 60 s");
        }
      }
    }
    spec.commandLine().getOut().println("sent " + records.size() + " records for adapter " + adapter + " to " + topic);
    return 0;
  }
}
