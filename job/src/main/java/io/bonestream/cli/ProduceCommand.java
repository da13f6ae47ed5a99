package io.bonestream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.job.InstructionRecords;
import io.bonestream.job.KafkaChecks;
import io.bonestream.job.KafkaClients;
import io.bonestream.job.KafkaProperties;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.decode.InputFormat;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.RecordCheck;
import io.bonestream.operators.decode.RegistryWriter;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.schemas.AdapterIds;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "produce", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Loads a JSONL file (any shape of 'train': chat, sharegpt, alpaca, prompt/completion,",
        "prompt/response, text, tokens) into a topic in the format an input reads: avro (InstructionRecord,",
        "single-object encoded), json (each line as it is) or avro-registry (InstructionRecord's schema registered",
        "under <topic>-value, the Confluent wire format). Every line is checked first: a bad line sends nothing."})
final class ProduceCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--bootstrap", required = true, paramLabel = "HOST:PORT", description = "Kafka bootstrap servers")
  String bootstrap;

  @Option(names = "--topic", defaultValue = StreamingJob.INSTRUCTIONS_TOPIC, paramLabel = "T",
      description = "the topic the records go to (default: ${DEFAULT-VALUE})")
  String topic;

  @Option(names = "--adapter", paramLabel = "ID",
      description = "the adapter the records train (the record key; json: also its adapter_id field where it has none); "
          + "without it, each record's adapter_id field")
  String adapter;

  @Option(names = "--file", required = true, paramLabel = "data.jsonl", description = "records, one JSON object per line")
  Path file;

  @Option(names = "--header", paramLabel = "NAME=VALUE", description = "a Kafka header on every record")
  Map<String, String> headers = new LinkedHashMap<>();

  @Option(names = "--kafka-config", paramLabel = "FILE", description = "Kafka client properties (TLS, SASL, ...)")
  Path kafkaConfig;

  @Mixin InputOptions input;

  @Override
  public Integer call() throws Exception {
    if (adapter != null && !AdapterIds.isValid(adapter)) {
      throw new BonestreamException("adapter id '" + adapter + "' is not 1-128 characters of [A-Za-z0-9._-]");
    }
    InputSpec target = input.spec(topic);
    // the file's lines are read as the input options say (for avro too: any shape becomes an InstructionRecord)
    RecordParser.Options reading = input.reading.options();
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (NoSuchFileException e) {
      throw new BonestreamException("data file not found: " + file);
    } catch (java.nio.charset.MalformedInputException e) {
      throw new BonestreamException(file + " is not UTF-8 text");
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    List<Prepared> prepared = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).isBlank()) {
        continue;
      }
      try {
        prepared.add(prepare(lines.get(i), Json.MAPPER.readTree(lines.get(i)), reading, target.format(),
            file.getFileName() + ":" + (i + 1)));
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new BonestreamException(file + " line " + (i + 1) + ": malformed JSON ("
            + e.getOriginalMessage().split("\n")[0] + ")");
      } catch (BonestreamException e) {
        throw new BonestreamException(file + " line " + (i + 1) + ": " + e.getMessage());
      }
    }
    if (prepared.isEmpty()) {
      throw new BonestreamException(file + " holds no records");
    }
    List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
    if (target.format() == InputFormat.AVRO_REGISTRY) {
      // InstructionRecord's schema under the topic's value subject (the registry's default naming)
      try (RegistryWriter w = RegistryWriter.open(target.registry(), topic + "-value", InstructionRecord.getClassSchema())) {
        prepared.forEach(r -> records.add(new ProducerRecord<>(topic, r.key(), w.frame(r.avro()))));
      }
    } else if (target.format() == InputFormat.AVRO) {
      prepared.forEach(r -> records.add(KafkaClients.instruction(topic, r.avro())));
    } else {
      prepared.forEach(r -> records.add(new ProducerRecord<>(topic, r.key(), r.json())));
    }
    Properties client = KafkaProperties.load(kafkaConfig);
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(bootstrap, client)) {
      KafkaChecks.awaitTopic(p, bootstrap, client, topic);
      List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
      for (ProducerRecord<byte[], byte[]> r : records) {
        headers.forEach((k, v) -> r.headers().add(k, v.getBytes(StandardCharsets.UTF_8)));
        sent.add(p.send(r));
      }
      p.flush();
      for (var f : sent) {
        try {
          f.get(60, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
          throw new BonestreamException(KafkaChecks.sendFailure(bootstrap, client, topic,
              e.getCause()));
        } catch (java.util.concurrent.TimeoutException e) {
          throw new BonestreamException("no answer from Kafka at " + bootstrap + " within 60 s");
        }
      }
    }
    spec.commandLine().getOut().println("sent " + records.size() + " " + target.format().id() + " records"
        + (adapter == null ? "" : " for adapter " + adapter) + " to " + topic);
    return 0;
  }

  /** A checked line: its key and its value as an InstructionRecord (avro formats) or as JSON bytes. */
  private record Prepared(byte[] key, InstructionRecord avro, byte[] json) {}

  /** One line, ready for {@code format}; its shape is checked either way. */
  private Prepared prepare(String raw, JsonNode line, RecordParser.Options reading,
      InputFormat format, String where) throws com.fasterxml.jackson.core.JsonProcessingException {
    if (!line.isObject()) {
      throw new BonestreamException("a record must be a JSON object");
    }
    String id = adapter != null ? adapter : line.path("adapter_id").isTextual() ? line.get("adapter_id").asText() : null;
    if (id == null) {
      throw new BonestreamException("no adapter_id field: give --adapter");
    }
    if (!AdapterIds.isValid(id)) {
      throw new BonestreamException("adapter_id '" + id + "' is not 1-128 characters of [A-Za-z0-9._-]");
    }
    String exampleId = line.path("example_id").isTextual() ? line.get("example_id").asText() : where;
    byte[] key = id.getBytes(StandardCharsets.UTF_8);
    if (format != InputFormat.JSON) {
      return new Prepared(key, InstructionRecords.fromJson(line, reading, id, exampleId), null);
    }
    // read as the job reads it (strictly: UTF-8, bounded, no duplicate keys): a refused line is not sent
    String problem = RecordCheck.jsonProblem(raw.getBytes(StandardCharsets.UTF_8), reading);
    if (problem != null) {
      throw new BonestreamException(problem);
    }
    if (adapter != null && !line.has("adapter_id")) {
      return new Prepared(key, null, Json.MAPPER.writeValueAsBytes(((ObjectNode) line).deepCopy()
          .put("adapter_id", adapter)));
    }
    return new Prepared(key, null, raw.getBytes(StandardCharsets.UTF_8));
  }
}
