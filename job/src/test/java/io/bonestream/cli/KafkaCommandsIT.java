package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.job.EmbeddedKafka;
import io.bonestream.job.KafkaClients;
import io.bonestream.operators.EveryAdapter;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.InstructionRecord;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code produce} and {@code tail-snapshots} against a real broker. */
class KafkaCommandsIT {
  @TempDir static Path tmp;
  static EmbeddedKafka kafka;

  @BeforeAll
  static void start() {
    kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
  }

  @AfterAll
  static void stop() {
    kafka.close();
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void eraseWritesOneRequestPerIdOfAFileAndWaitsForTheVersionsThatListThemAll() throws Exception {
    kafka.createTopic("b.control", 1, false);
    kafka.createTopic("b.adapters", 1, false);
    Path ids = tmp.resolve("users.txt");
    // a blank line, a Windows line end, a repeated id and one that is not ASCII
    java.nio.file.Files.writeString(ids, "u-1\n\nu-2\r\nu-1\n\u00fc-3\n");
    java.util.concurrent.atomic.AtomicReference<Cli> waited = new java.util.concurrent.atomic.AtomicReference<>();
    Thread erase = new Thread(() -> waited.set(Cli.run("erase", "--bootstrap", kafka.bootstrapServers(),
        "--topic", "b.control", "--adapter", "colors", "--user-ids", ids.toString(), "--wait", "60s",
        "--adapters-topic", "b.adapters")));
    erase.start();
    var written = KafkaClients.readUntil(kafka.bootstrapServers(), "b.control", Duration.ofSeconds(30),
        rs -> rs.size() >= 3);
    List<String> users = new java.util.ArrayList<>();
    for (var r : written) {
      users.add(io.bonestream.operators.decode.ControlRecords.decode(new io.bonestream.operators.KafkaInput(r.key(),
          r.value(), r.topic(), r.partition(), r.offset(), r.timestamp())).eraseUserId);
    }
    assertEquals(List.of("u-1", "u-2", "\u00fc-3"), users, "one request per id, in the file's order, each once");
    io.bonestream.schemas.Erasure listed = io.bonestream.schemas.Erasure.newBuilder().setUserId("u-1")
        .setExampleId(null).setTopic("b.control").setPartition(0).setOffset(0).setRemovedBuffered(2)
        .setRemovedReplay(1).setRemovedEval(0).setRetrained(false).setDiscardedSteps(0).build();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      // a burst is listed over two versions
      p.send(record("b.adapters", AdapterSnapshot.newBuilder(manifest("colors", 3)).setErasures(List.of(listed,
          io.bonestream.schemas.Erasure.newBuilder(listed).setOffset(1).build())).build()));
      p.flush();
      Thread.sleep(500);
      assertTrue(erase.isAlive(), "ended before the third request was listed: " + waited.get());
      p.send(record("b.adapters", AdapterSnapshot.newBuilder(manifest("colors", 4)).setErasures(List.of(
          io.bonestream.schemas.Erasure.newBuilder(listed).setOffset(2).setRetrained(true).setDiscardedSteps(1).build()))
          .build()));
      p.flush();
    }
    erase.join(Duration.ofSeconds(90).toMillis());
    Cli c = waited.get();
    assertTrue(c != null, "erase --wait did not end");
    assertEquals(0, c.exitCode(), c.err());
    assertTrue(c.out().contains("wrote 3 erasure requests of colors (user ids from " + ids + ") to b.control "
        + "(partition 0, offsets 0 to 2)"), c.out());
    assertTrue(c.out().contains("3 requests applied in colors@3 to colors@4: removed 6 buffered, 3 replay and 0 eval "
        + "examples; 1 retrained"), c.out());

    // an id the job would refuse: one line naming the line, nothing written
    Path bad = tmp.resolve("bad.txt");
    java.nio.file.Files.writeString(bad, "u-4\n" + "x".repeat(257) + "\n");
    Cli refused = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "b.control", "--adapter",
        "colors", "--user-ids", bad.toString());
    assertEquals(1, refused.exitCode());
    assertTrue(refused.err().contains(bad + " line 2: user id of 257 characters, over the limit of 256")
        && refused.err().strip().lines().count() == 1, refused.err());
    // more ids than an adapter holds waiting to be listed
    StringBuilder many = new StringBuilder();
    for (int i = 0; i <= ErasureIds.MAX_IDS; i++) {
      many.append("x-").append(i).append('\n');
    }
    Path tooMany = tmp.resolve("many.txt");
    java.nio.file.Files.writeString(tooMany, many);
    Cli over = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "b.control", "--adapter",
        "colors", "--example-ids", tooMany.toString());
    assertEquals(1, over.exitCode());
    assertTrue(over.err().contains("holds more than 10000 example ids"), over.err());
    assertEquals(3, KafkaClients.readUntil(kafka.bootstrapServers(), "b.control", Duration.ofSeconds(3),
        rs -> rs.size() > 3).size(), "the refused runs wrote nothing");
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void eraseAllAdaptersWritesOneRequestToEveryAdapterAndWaitsForEachWithAVersion() throws Exception {
    kafka.createTopic("m.control", 1, false);
    kafka.createTopic("m.adapters", 1, false);
    // with --wait and no adapter with a version: the request is written, nothing to wait for
    Cli none = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "m.control", "--all-adapters",
        "--user-id", "u-4", "--wait", "5s", "--adapters-topic", "m.adapters");
    assertEquals(0, none.exitCode(), none.err());
    assertTrue(none.out().contains("no adapter has a version on m.adapters yet: nothing to wait for"), none.out());
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      p.send(record("m.adapters", manifest("beta", 1)));
      p.send(record("m.adapters", manifest("alpha", 1)));
      p.send(record("m.adapters", manifest("alpha", 2)));
      p.send(new ProducerRecord<>("m.adapters", "not an id!".getBytes(), new byte[] {1}));
      p.flush();
    }
    java.util.concurrent.atomic.AtomicReference<Cli> waited = new java.util.concurrent.atomic.AtomicReference<>();
    Thread erase = new Thread(() -> waited.set(Cli.run("erase", "--bootstrap", kafka.bootstrapServers(),
        "--topic", "m.control", "--all-adapters", "--user-id", "u-5", "--wait", "60s", "--adapters-topic", "m.adapters")));
    erase.start();
    var written = KafkaClients.readUntil(kafka.bootstrapServers(), "m.control", Duration.ofSeconds(30),
        rs -> rs.size() >= 2);
    assertEquals(2, written.size());
    TrainingItemView request = TrainingItemView.of(written.get(1));
    assertEquals(new TrainingItemView(EveryAdapter.ID, "u-5"), request, "one request, to every adapter");
    io.bonestream.schemas.Erasure listed = io.bonestream.schemas.Erasure.newBuilder().setUserId("u-5")
        .setExampleId(null).setTopic("m.control").setPartition(0).setOffset(1).setRemovedBuffered(1)
        .setRemovedReplay(0).setRemovedEval(1).setRetrained(false).setDiscardedSteps(0).build();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      // the first request's coordinates do not count; alpha lists the request, beta not yet
      p.send(record("m.adapters", AdapterSnapshot.newBuilder(manifest("beta", 2))
          .setErasures(List.of(io.bonestream.schemas.Erasure.newBuilder(listed).setOffset(0).build())).build()));
      p.send(record("m.adapters", AdapterSnapshot.newBuilder(manifest("alpha", 3)).setErasures(List.of(listed)).build()));
      p.flush();
      Thread.sleep(500);
      assertTrue(erase.isAlive(), "ended before beta listed the request: " + waited.get());
      p.send(record("m.adapters", AdapterSnapshot.newBuilder(manifest("beta", 3)).setErasures(List.of(listed)).build()));
      p.flush();
    }
    erase.join(Duration.ofSeconds(90).toMillis());
    Cli c = waited.get();
    assertTrue(c != null, "erase --wait did not end");
    assertEquals(0, c.exitCode(), c.err());
    assertTrue(c.out().contains("wrote {\"type\":\"erase\",\"adapter_id\":\"*\",\"user_id\":\"u-5\"} to m.control"),
        c.out());
    assertTrue(c.out().contains("waiting up to 60s for versions of the 2 adapters with a version on m.adapters"),
        c.out());
    assertTrue(c.out().contains("1 request applied in 2 adapters: removed 2 buffered, 0 replay and 2 eval examples; "
        + "0 retrained"), c.out());
    assertTrue(c.out().contains("adapters without a version yet list it in their first"), c.out());

    // --adapter more than once: one request for each
    Cli two = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "m.control", "--adapter", "alpha",
        "--adapter", "gamma", "--example-id", "x-1");
    assertEquals(0, two.exitCode(), two.err());
    assertTrue(two.out().contains("wrote 2 erasure requests (example id x-1) for 2 adapters (alpha, gamma)"), two.out());
    // both, or neither: one line, nothing written
    for (String[] args : List.of(new String[] {"--adapter", "alpha", "--all-adapters"}, new String[] {})) {
      List<String> line = new java.util.ArrayList<>(List.of("erase", "--bootstrap", kafka.bootstrapServers(),
          "--topic", "m.control", "--user-id", "u-5"));
      line.addAll(List.of(args));
      Cli refused = Cli.run(line.toArray(String[]::new));
      assertEquals(1, refused.exitCode(), refused.out());
      assertTrue(refused.err().contains("--adapter ID (one or more) or --all-adapters"), refused.err());
    }
    assertEquals(4, KafkaClients.readUntil(kafka.bootstrapServers(), "m.control", Duration.ofSeconds(3),
        rs -> rs.size() > 4).size(), "the refused runs wrote nothing");
  }

  /** A control record as the job reads it. */
  private record TrainingItemView(String adapterId, String userId) {
    static TrainingItemView of(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r) throws Exception {
      var i = io.bonestream.operators.decode.ControlRecords.decode(new io.bonestream.operators.KafkaInput(r.key(),
          r.value(), r.topic(), r.partition(), r.offset(), r.timestamp()));
      return new TrainingItemView(i.adapterId, i.eraseUserId);
    }
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void eraseWaitsForTheVersionThatListsTheRequest() throws Exception {
    kafka.createTopic("w.control", 1, false);
    kafka.createTopic("w.adapters", 1, false);
    java.util.concurrent.atomic.AtomicReference<Cli> waited = new java.util.concurrent.atomic.AtomicReference<>();
    Thread erase = new Thread(() -> waited.set(Cli.run("erase", "--bootstrap", kafka.bootstrapServers(),
        "--topic", "w.control", "--adapter", "colors", "--user-id", "u-9", "--retrain", "--wait", "60s",
        "--adapters-topic", "w.adapters")));
    erase.start();
    // once the request is on the control topic, the command reads the adapters topic from before it
    KafkaClients.readUntil(kafka.bootstrapServers(), "w.control", Duration.ofSeconds(30), rs -> !rs.isEmpty());
    io.bonestream.schemas.Erasure listed = io.bonestream.schemas.Erasure.newBuilder().setUserId("u-9")
        .setExampleId(null).setTopic("w.control").setPartition(0).setOffset(0).setRemovedBuffered(2)
        .setRemovedReplay(1).setRemovedEval(0).setRetrained(true).setDiscardedSteps(3).build();
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      // another adapter's version listing the same coordinates, and one of colors' listing another request
      p.send(record("w.adapters", AdapterSnapshot.newBuilder(manifest("other", 1)).setErasures(List.of(listed)).build()));
      p.send(record("w.adapters", AdapterSnapshot.newBuilder(manifest("colors", 4))
          .setErasures(List.of(io.bonestream.schemas.Erasure.newBuilder(listed).setOffset(7).build())).build()));
      p.send(record("w.adapters", AdapterSnapshot.newBuilder(manifest("colors", 5)).setErasures(List.of(listed)).build()));
      p.flush();
    }
    erase.join(Duration.ofSeconds(90).toMillis());
    Cli c = waited.get();
    assertTrue(c != null, "erase --wait did not end");
    assertEquals(0, c.exitCode(), c.err());
    assertTrue(c.out().contains("applied in colors@5: removed 2 buffered, 1 replay and 0 eval examples; retrained: "
        + "back to the version before, 3 steps dropped"), c.out());

    // nothing lists the next one: one line after the wait, exit 1 (the request is written)
    Cli none = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "w.control", "--adapter", "colors",
        "--user-id", "u-9", "--wait", "2s", "--adapters-topic", "w.adapters");
    assertEquals(1, none.exitCode());
    assertTrue(none.out().contains("offset 1"), none.out());
    assertTrue(none.err().contains("no version of colors listed the request within 2s")
        && none.err().strip().lines().count() == 1, none.err());
    // with --public-key, an unsigned version listing the request does not count
    Path keys = tmp.resolve("wait-keys");
    io.bonestream.schemas.SigningKeys.write(io.bonestream.schemas.SigningKeys.generate(), keys, "job");
    Thread signedOnly = new Thread(() -> waited.set(Cli.run("erase", "--bootstrap", kafka.bootstrapServers(),
        "--topic", "w.control", "--adapter", "colors", "--user-id", "u-9", "--wait", "6s",
        "--adapters-topic", "w.adapters", "--public-key", keys.resolve("job.pub").toString())));
    signedOnly.start();
    KafkaClients.readUntil(kafka.bootstrapServers(), "w.control", Duration.ofSeconds(30), rs -> rs.size() >= 3);
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      p.send(record("w.adapters", AdapterSnapshot.newBuilder(manifest("colors", 6))
          .setErasures(List.of(io.bonestream.schemas.Erasure.newBuilder(listed).setOffset(2).build())).build()));
      p.flush();
    }
    signedOnly.join(Duration.ofSeconds(60).toMillis());
    assertEquals(1, waited.get().exitCode(), "an unsigned version confirmed it: " + waited.get().out());
    // an adapters topic that does not exist: refused before anything is written
    Cli noTopic = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "w.control", "--adapter", "colors",
        "--user-id", "u-9", "--wait", "2s", "--adapters-topic", "w.nothing");
    assertEquals(1, noTopic.exitCode());
    assertTrue(noTopic.err().contains("adapters topic w.nothing not found"), noTopic.err());
    assertEquals(3, KafkaClients.readUntil(kafka.bootstrapServers(), "w.control", Duration.ofSeconds(5),
        rs -> rs.size() > 3).size(), "the refused request wrote nothing");
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void aSignedEraseIsActedOnByAJobWithItsPublicKeyOnly() throws Exception {
    kafka.createTopic("s.control", 1, false);
    Path keys = tmp.resolve("control-keys");
    io.bonestream.schemas.SigningKeys.write(io.bonestream.schemas.SigningKeys.generate(), keys, "control");
    Cli signed = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "s.control",
        "--adapter", "colors", "--user-id", "u-7", "--signing-key", keys.resolve("control.key").toString());
    assertEquals(0, signed.exitCode(), signed.err());
    var records = KafkaClients.readUntil(kafka.bootstrapServers(), "s.control", Duration.ofSeconds(30),
        rs -> !rs.isEmpty());
    var input = io.bonestream.operators.decode.KafkaInputDeserializer.toInput(records.get(0));
    var trust = new io.bonestream.operators.decode.ControlTrust(List.of(Files.readString(keys.resolve("control.pub"))),
        Duration.ofMinutes(10));
    assertEquals("u-7", io.bonestream.operators.decode.ControlRecords.decode(input, trust.verifier()).eraseUserId);
    var otherKey = new io.bonestream.operators.decode.ControlTrust(List.of(io.bonestream.schemas.SigningKeys.publicPem(
        io.bonestream.schemas.SigningKeys.generate().getPublic())), Duration.ofMinutes(10));
    assertThrows(io.bonestream.operators.decode.Rejected.class,
        () -> io.bonestream.operators.decode.ControlRecords.decode(input, otherKey.verifier()));
    // a key file others may read: one line, nothing written
    Files.setPosixFilePermissions(keys.resolve("control.key"),
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    Cli open = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "s.control",
        "--adapter", "colors", "--user-id", "u-7", "--signing-key", keys.resolve("control.key").toString());
    assertEquals(1, open.exitCode());
    assertTrue(open.err().contains("control.key") && open.err().strip().lines().count() == 1, open.err());
    try (var c = KafkaClients.committedReader(kafka.bootstrapServers(), new java.util.Properties())) {
      var partition = new org.apache.kafka.common.TopicPartition("s.control", 0);
      assertEquals(1L, c.endOffsets(List.of(partition), Duration.ofSeconds(30)).get(partition));
    }
  }

  @Test
  @org.junit.jupiter.api.Timeout(180)
  void eraseWritesAControlRecordTheJobReads() throws Exception {
    kafka.createTopic("e.control", 1, false);
    Cli byExample = Cli.run("erase", "--bootstrap-servers", kafka.bootstrapServers(), "--topic", "e.control",
        "--adapter", "colors", "--example-id", "colors.jsonl:3");
    assertEquals(0, byExample.exitCode(), byExample.err());
    assertTrue(byExample.out().contains("wrote {\"type\":\"erase\",\"adapter_id\":\"colors\",\"example_id\":"
        + "\"colors.jsonl:3\"} to e.control (partition 0, offset 0)"), byExample.out());
    Cli byUser = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control",
        "--adapter", "colors", "--user-id", "u-42", "--retrain");
    assertEquals(0, byUser.exitCode(), byUser.err());
    var records = KafkaClients.readUntil(kafka.bootstrapServers(), "e.control", Duration.ofSeconds(30),
        rs -> rs.size() >= 2);
    assertEquals(2, records.size());
    assertEquals("colors", new String(records.get(0).key(), java.nio.charset.StandardCharsets.UTF_8), "keyed by adapter");
    JsonNode first = Json.MAPPER.readTree(records.get(0).value());
    assertEquals(Json.MAPPER.readTree("{\"type\": \"erase\", \"adapter_id\": \"colors\", \"example_id\": \"colors.jsonl:3\"}"),
        first);
    JsonNode second = Json.MAPPER.readTree(records.get(1).value());
    assertEquals(Json.MAPPER.readTree("{\"type\": \"erase\", \"adapter_id\": \"colors\", \"user_id\": \"u-42\", "
        + "\"retrain\": true}"), second);
    // what the job makes of them
    var item = io.bonestream.operators.decode.ControlRecords.decode(
        io.bonestream.operators.decode.KafkaInputDeserializer.toInput(records.get(1)));
    assertEquals("u-42", item.eraseUserId);
    assertTrue(item.eraseRetrain && item.isErasure());
    assertEquals(1L, item.offset);

    // user mistakes: one line each, nothing written
    Cli both = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control", "--adapter", "colors",
        "--example-id", "x", "--user-id", "u");
    assertEquals(2, both.exitCode());
    assertTrue(both.err().startsWith("error: ") && both.err().strip().lines().count() == 1, both.err());
    Cli neither = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control", "--adapter", "colors");
    assertEquals(2, neither.exitCode());
    assertTrue(neither.err().contains("--example-id") && neither.err().strip().lines().count() == 1, neither.err());
    Cli badAdapter = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control", "--adapter", "../x",
        "--example-id", "x");
    assertEquals(1, badAdapter.exitCode());
    assertTrue(badAdapter.err().contains("adapter id '../x'") && badAdapter.err().strip().lines().count() == 1,
        badAdapter.err());
    Cli longId = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control", "--adapter", "colors",
        "--user-id", "u".repeat(257));
    assertEquals(1, longId.exitCode());
    assertTrue(longId.err().contains("over the limit of 256"), longId.err());
    Cli emptyId = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.control", "--adapter", "colors",
        "--example-id", "");
    assertEquals(1, emptyId.exitCode());
    assertTrue(emptyId.err().contains("empty example id"), emptyId.err());
    try (var c = KafkaClients.committedReader(kafka.bootstrapServers(), new java.util.Properties())) {
      var partition = new org.apache.kafka.common.TopicPartition("e.control", 0);
      assertEquals(2L, c.endOffsets(List.of(partition), Duration.ofSeconds(30)).get(partition),
          "a refused request writes nothing");
    }

    // the user an erasure by user finds: produce carries a line's metadata into InstructionRecord's,
    // and inspect shows the user id the job reads
    kafka.createTopic("e.instructions", 1, false);
    Path data = tmp.resolve("users.jsonl");
    Files.writeString(data, "{\"prompt\": \"Hi\", \"response\": \"Yo\", \"metadata\": {\"user_id\": \"u-42\"}}\n"
        + "{\"prompt\": \"Who?\", \"response\": \"Me.\"}\n");
    Cli sent = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.instructions",
        "--adapter", "colors", "--file", data.toString());
    assertEquals(0, sent.exitCode(), sent.err());
    Cli inspect = Cli.run("inspect", "--bootstrap", kafka.bootstrapServers(), "--topic", "e.instructions",
        "--model", TestFiles.stories260K().toString(), "--timeout", "20s");
    assertEquals(0, inspect.exitCode(), inspect.err());
    assertTrue(inspect.out().contains("example users.jsonl:1, user u-42, weight"), inspect.out());
    assertTrue(inspect.out().contains("example users.jsonl:2, weight"), inspect.out());
  }

  @Test
  void produceSendsEveryLineAsAvroOrNothing() throws Exception {
    kafka.createTopic("p.instructions", 1, false);
    Path data = TestFiles.models().getParent().resolve("examples/colors.jsonl");
    Cli ok = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.instructions",
        "--adapter", "colors", "--file", data.toString());
    assertEquals(0, ok.exitCode(), ok.err());
    assertTrue(ok.out().contains("sent 64 avro records"), ok.out());
    var records = KafkaClients.readUntil(kafka.bootstrapServers(), "p.instructions", Duration.ofSeconds(30),
        rs -> rs.size() >= 64);
    assertEquals(64, records.size());
    InstructionRecord first = InstructionRecord.getDecoder().decode(records.get(0).value());
    assertEquals("colors", first.getAdapterId());
    assertEquals(Json.MAPPER.readTree(Files.readAllLines(data).get(0)).get("prompt").asText(), first.getPrompt());

    Path bad = tmp.resolve("bad.jsonl");
    Files.writeString(bad, Files.readAllLines(data).get(0) + "\n{\"prompt\": \n");
    Cli refused = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.instructions",
        "--adapter", "colors", "--file", bad.toString());
    assertEquals(1, refused.exitCode());
    assertTrue(refused.err().contains("line 2"), refused.err());
    Cli badId = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--adapter", "../x",
        "--file", data.toString());
    assertEquals(1, badId.exitCode());
    // the commands have returned: the topic's end offset says everything they sent
    try (var c = KafkaClients.committedReader(kafka.bootstrapServers(), new java.util.Properties())) {
      var partition = new org.apache.kafka.common.TopicPartition("p.instructions", 0);
      assertEquals(64L, c.endOffsets(List.of(partition), Duration.ofSeconds(30)).get(partition),
          "a refused file sends nothing");
    }
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void readersOfATopicThatDoesNotExistSaySoAndCreateNone() throws Exception {
    // this broker creates topics on first use (Kafka's default): a reader's lookup must not
    Cli inspect = Cli.run("inspect", "--bootstrap", kafka.bootstrapServers(), "--topic", "r.typo1");
    assertEquals(1, inspect.exitCode(), inspect.err());
    assertTrue(inspect.err().contains("topic r.typo1 not found"), inspect.err());
    Cli tail = Cli.run("tail-snapshots", "--bootstrap", kafka.bootstrapServers(), "--topic", "r.typo2",
        "--timeout", "2s");
    assertEquals(1, tail.exitCode(), tail.err());
    assertTrue(tail.err().contains("topic r.typo2 not found"), tail.err());
    kafka.createTopic("r.control", 1, false);
    Cli erase = Cli.run("erase", "--bootstrap", kafka.bootstrapServers(), "--topic", "r.control", "--adapter", "a",
        "--user-id", "u", "--wait", "2s", "--adapters-topic", "r.typo3");
    assertEquals(1, erase.exitCode(), erase.err());
    assertTrue(erase.err().contains("adapters topic r.typo3 not found"), erase.err());
    // the job's read-back of the adapters topic when a trainer starts: nothing published, nothing made
    var published = new io.bonestream.operators.publish.PublishedVersions(kafka.bootstrapServers(),
        new java.util.Properties(), "r.typo4");
    assertEquals(java.util.Map.of(), published.scan(id -> true,
        io.bonestream.operators.publish.ReadBackCheck.of(null, List.of()), (id, why) -> { }));
    try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
        java.util.Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()))) {
      // a topic made after the lookups: the controller's log is ordered, so a creation one of them asked for
      // is committed by the time this one is (a condition, not a fixed sleep)
      admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("r.marker", 1, (short) 1))).all()
          .get(30, java.util.concurrent.TimeUnit.SECONDS);
      var names = admin.listTopics().names().get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertTrue(names.stream().noneMatch(n -> n.startsWith("r.typo")), "created: " + names);
    }
  }

  @Test
  @org.junit.jupiter.api.Timeout(120)
  void aTopicThatDoesNotExistIsSaidSoWhereTheBrokerCreatesNone() throws Exception {
    try (EmbeddedKafka strict = EmbeddedKafka.start(0, tmp.resolve("strict-kafka"), true,
        java.util.Map.of("auto.create.topics.enable", "false"))) {
      Path client = tmp.resolve("strict-client.properties");
      Files.writeString(client, "max.block.ms=3000\n"); // the wait for the topic's metadata, from 60 s
      Path data = TestFiles.models().getParent().resolve("examples/colors.jsonl");
      Cli produce = Cli.run("produce", "--bootstrap", strict.bootstrapServers(), "--kafka-config", client.toString(),
          "--topic", "no.such.topic", "--adapter", "colors", "--file", data.toString());
      assertEquals(1, produce.exitCode(), produce.err());
      assertEquals("error: no topic no.such.topic at " + strict.bootstrapServers()
          + " (this command does not create topics)", produce.err().strip());
      Cli erase = Cli.run("erase", "--bootstrap", strict.bootstrapServers(), "--kafka-config", client.toString(),
          "--adapter", "colors", "--user-id", "u");
      assertEquals(1, erase.exitCode(), erase.err());
      assertTrue(erase.err().startsWith("error: no topic bonestream.control at " + strict.bootstrapServers()),
          erase.err());
    }
  }

  @Test
  void produceWritesJsonAndInspectShowsHowEachRecordDecodes() throws Exception {
    kafka.createTopic("p.chats", 1, false);
    Path data = tmp.resolve("chats.jsonl");
    Files.writeString(data, String.join("\n",
        "{\"conversations\": [{\"from\": \"human\", \"value\": \"What color is the ball?\"}, "
            + "{\"from\": \"gpt\", \"value\": \"The ball is red.\"}]}",
        "{\"question\": \"Who is big?\", \"answer\": \"The cat is big.\", \"example_id\": \"q2\"}",
        "{\"text\": \"Once upon a time.\"}") + "\n");
    Cli sent = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.chats", "--format", "json",
        "--field", "prompt=question", "--field", "response=answer", "--header", "x-tenant=acme",
        "--adapter", "support", "--file", data.toString());
    assertEquals(0, sent.exitCode(), sent.err());
    assertTrue(sent.out().contains("sent 3 json records for adapter support"), sent.out());
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), new Properties())) {
      p.send(new ProducerRecord<>("p.chats", null, "not json".getBytes())).get();
    }
    Cli inspect = Cli.run("inspect", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.chats", "--format", "json",
        "--field", "prompt=question", "--field", "response=answer", "--adapter-id", "header:x-tenant",
        "--model", TestFiles.stories260K().toString(), "--timeout", "20s");
    assertEquals(0, inspect.exitCode(), inspect.err());
    String out = inspect.out();
    assertTrue(out.contains("#1 partition 0 offset 0 key \"support\""), out);
    assertTrue(out.contains("accepted: adapter acme, example p.chats/0/0"), out);
    assertTrue(out.contains("«The ball is red.</s>»"), out);
    assertTrue(out.contains("accepted: adapter acme, example q2"), out);
    assertTrue(out.contains("Who is big?«The cat is big.</s>»"), out);
    assertTrue(out.contains("<s>«Once upon a time.</s>»"), out); // text: every token a target
    assertTrue(out.contains("dead letter NOT_JSON"), out);
    assertTrue(out.contains("3 accepted, 1 dead letters {NOT_JSON=1}"), out);

    // the same file as Avro: shapes become InstructionRecords; plain text has no Avro form
    Cli avro = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.avro",
        "--field", "prompt=question", "--field", "response=answer", "--adapter", "support", "--file", data.toString());
    assertEquals(1, avro.exitCode());
    assertTrue(avro.err().contains("line 3") && avro.err().contains("--format json"), avro.err());
    Cli badShape = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.chats", "--format", "json",
        "--shape", "alpaca", "--adapter", "support", "--file", data.toString());
    assertEquals(1, badShape.exitCode());
    assertTrue(badShape.err().contains("line 1: missing field 'instruction'"), badShape.err());
    // checked as the job reads JSON: two values for one key would be one record here and another there
    Path duplicate = tmp.resolve("duplicate.jsonl");
    Files.writeString(duplicate, "{\"prompt\": \"a\", \"prompt\": \"b\", \"response\": \"c\"}\n");
    Cli dup = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.chats", "--format", "json",
        "--adapter", "support", "--file", duplicate.toString());
    assertEquals(1, dup.exitCode());
    assertTrue(dup.err().contains("line 1") && dup.err().contains("NOT_JSON"), dup.err());
  }

  @Test
  void produceAndInspectTheRegistryWireFormat() throws Exception {
    kafka.createTopic("p.registry", 1, false);
    Path data = TestFiles.models().getParent().resolve("examples/shapes/sharegpt.jsonl");
    try (io.bonestream.operators.decode.TestRegistry registry = io.bonestream.operators.decode.TestRegistry.start()) {
      Cli sent = Cli.run("produce", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.registry",
          "--format", "avro-registry", "--registry-url", registry.url(), "--adapter", "chats", "--file", data.toString());
      assertEquals(0, sent.exitCode(), sent.err());
      assertTrue(sent.out().contains("sent 1 avro-registry records for adapter chats"), sent.out());
      var records = KafkaClients.readUntil(kafka.bootstrapServers(), "p.registry", Duration.ofSeconds(30),
          rs -> rs.size() >= 1);
      byte[] value = records.get(0).value();
      assertEquals(0, value[0], "the Confluent magic byte");
      int id = ByteBuffer.wrap(value, 1, 4).getInt();
      // the registry holds InstructionRecord's schema under that id, and the rest is its Avro binary
      var reader = new org.apache.avro.specific.SpecificDatumReader<InstructionRecord>(InstructionRecord.getClassSchema());
      InstructionRecord r = reader.read(null, org.apache.avro.io.DecoderFactory.get()
          .binaryDecoder(value, 5, value.length - 5, null));
      assertEquals("chats", r.getAdapterId());
      assertEquals("The ball is red.", r.getMessages().get(1).getContent().toString());
      assertTrue(registry.register("p.registry-value", InstructionRecord.getClassSchema().toString()) == id,
          "registered under the topic's value subject");

      Cli inspect = Cli.run("inspect", "--bootstrap", kafka.bootstrapServers(), "--topic", "p.registry",
          "--format", "avro-registry", "--registry-url", registry.url(), "--model", TestFiles.stories260K().toString(),
          "--timeout", "20s");
      assertEquals(0, inspect.exitCode(), inspect.err());
      assertTrue(inspect.out().contains("accepted: adapter chats"), inspect.out());
      assertTrue(inspect.out().contains("«The ball is red.</s>»"), inspect.out());
    }
  }

  @Test
  void tailSnapshotsPrintsCommittedManifestsOnly() throws Exception {
    kafka.createTopic("t.adapters", 1, true);
    Properties tx = new Properties();
    tx.put("transactional.id", "tail-test");
    try (KafkaProducer<byte[], byte[]> p = KafkaClients.producer(kafka.bootstrapServers(), tx)) {
      p.initTransactions();
      p.beginTransaction();
      p.send(record(manifest("kept", 1)));
      p.commitTransaction();
      p.beginTransaction();
      p.send(record(manifest("aborted", 1)));
      p.flush();
      p.abortTransaction();
      p.beginTransaction();
      p.send(record(manifest("kept", 2)));
      p.commitTransaction();
    }
    Cli tail = Cli.run("tail-snapshots", "--bootstrap", kafka.bootstrapServers(), "--topic", "t.adapters",
        "--from-beginning", "--timeout", "3s");
    assertEquals(0, tail.exitCode(), tail.err());
    List<String> lines = tail.out().lines().toList();
    assertEquals(2, lines.size(), tail.out());
    JsonNode second = Json.MAPPER.readTree(lines.get(1));
    assertEquals("kept", second.get("adapter_id").asText());
    assertEquals(2, second.get("version").asLong());
    assertEquals(3, second.get("payload").get("inline_bytes").asInt());
    // the hash of the adapter's bytes, so that two runs' versions can be compared
    assertEquals(io.bonestream.core.util.Hashes.sha256Hex(new byte[] {1, 2, 3}),
        second.get("payload").get("sha256").asText());
    assertTrue(!tail.out().contains("aborted"));
    Cli max = Cli.run("tail-snapshots", "--bootstrap", kafka.bootstrapServers(), "--topic", "t.adapters",
        "--from-beginning", "--max", "1");
    assertEquals(1, max.out().lines().count());
  }

  private static ProducerRecord<byte[], byte[]> record(AdapterSnapshot s) throws Exception {
    return record("t.adapters", s);
  }

  private static ProducerRecord<byte[], byte[]> record(String topic, AdapterSnapshot s) throws Exception {
    ByteBuffer b = AdapterSnapshot.getEncoder().encode(s);
    byte[] v = new byte[b.remaining()];
    b.get(v);
    return new ProducerRecord<>(topic, s.getAdapterId().getBytes(), v);
  }

  private static AdapterSnapshot manifest(String id, long version) {
    return AdapterSnapshot.newBuilder().setAdapterId(id).setVersion(version).setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("0".repeat(64)).build())
        .setTokenizerSha256("1".repeat(64)).setMethod("bone").setPeftType("MISS").setR(8)
        .setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(1).setTokens(2).setExamples(3).setSkippedSteps(0)
            .setLastLoss(1.0).setLossEma(1.0).build())
        .setLineage(List.of())
        .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
            .setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {1, 2, 3})).build())
        .build();
  }
}
