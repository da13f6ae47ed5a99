package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.StreamingJob;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The streaming trainer end to end on a real KRaft broker and a Flink MiniCluster. */
class StreamingJobIT {
  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  static EmbeddedKafka kafka;
  @TempDir static Path tmp;

  @BeforeAll
  static void startKafka() {
    kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
  }

  @AfterAll
  static void stopKafka() {
    kafka.close();
  }

  private static void topics(String prefix, int instructionPartitions) {
    kafka.createTopic(prefix + ".instructions", instructionPartitions, false);
    kafka.createTopic(prefix + ".adapters", 1, true);
    kafka.createTopic(prefix + ".dlq", 1, false);
  }

  private static JobClient start(StreamingJob job) throws Exception {
    return start(job, new Configuration());
  }

  private static JobClient start(StreamingJob job, Configuration conf) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.configure(conf);
    env.setParallelism(2);
    env.enableCheckpointing(500, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    return env.executeAsync("bonestream-it");
  }

  @Test
  void versionsLineageAndFallingLossForInterleavedAdapters() throws Exception {
    String prefix = "it1";
    topics(prefix, 2);
    var records = StreamingHarness.interleave(
        StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.colors("colors", 32)),
        StreamingHarness.asRecords(prefix + ".instructions", StreamingHarness.opposites("opposites", 32)));
    Map<String, Map<Integer, List<Long>>> offsets = StreamingHarness.produce(kafka.bootstrapServers(),
        prefix + ".instructions", records);
    JobClient job = start(StreamingHarness.job(kafka.bootstrapServers(), prefix, tmp.resolve("blobs1")).build());
    List<AdapterSnapshot> snaps;
    try {
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), prefix + ".adapters",
          Duration.ofSeconds(120), s -> s.size() >= 8);
      // one base model in this JVM, shared by the 2 decode and the 2 training subtasks
      assertEquals(1, io.bonestream.operators.train.SharedModels.loadedCount());
      assertEquals(4, io.bonestream.operators.train.SharedModels.references(io.bonestream.engine.TestFiles.stories260K()));
    } finally {
      job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    assertEquals(8, snaps.size(), "32 records per adapter, 4 per step, a version every 2 steps");
    for (String adapter : List.of("colors", "opposites")) {
      List<AdapterSnapshot> mine = snaps.stream().filter(s -> s.getAdapterId().equals(adapter)).toList();
      assertEquals(List.of(1L, 2L, 3L, 4L), mine.stream().map(AdapterSnapshot::getVersion).toList());
      // lineage: every record of this adapter in exactly one version, nothing else
      List<Long> covered = new ArrayList<>();
      long trained = 0;
      for (AdapterSnapshot s : mine) {
        for (OffsetRange r : s.getLineage()) {
          List<Long> produced = offsets.get(adapter).get(r.getPartition());
          List<Long> inRange = produced.stream()
              .filter(o -> o >= r.getFirstOffset() && o <= r.getLastOffset()).toList();
          assertEquals(r.getRecords(), inRange.size(), "range holds exactly its records");
          covered.addAll(inRange);
          trained += r.getRecords();
        }
      }
      List<Long> all = offsets.get(adapter).values().stream().flatMap(List::stream).sorted().toList();
      assertEquals(all, covered.stream().sorted().toList(), adapter + ": lineage covers each record once");
      assertEquals(32, trained);
      assertEquals(32, mine.get(3).getStats().getExamples());
      assertEquals(8, mine.get(3).getStats().getStep());
      double first = mine.get(0).getStats().getLastLoss();
      double last = mine.get(3).getStats().getLastLoss();
      assertTrue(last < 0.7 * first, adapter + ": loss " + first + " -> " + last);
      assertTrue(mine.get(3).getPayload() instanceof InlineAdapter);
      assertEquals("bat", mine.get(3).getMethod());
      assertEquals(64, mine.get(3).getBaseModel().getWeightsSha256().length());
    }
  }

  private static byte[] inlineBytes(AdapterSnapshot s) {
    java.nio.ByteBuffer b = ((InlineAdapter) s.getPayload()).getAdapterModelSafetensors().duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  private static List<AdapterSnapshot> runUntil(StreamingJob job, int snapshots) throws Exception {
    JobClient client = start(job);
    try {
      return StreamingHarness.readSnapshots(kafka.bootstrapServers(), job.adaptersTopic(),
          Duration.ofSeconds(120), s -> s.size() >= snapshots);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
  }

  @Test
  void anAdapterTrainedAloneEqualsTheSameAdapterTrainedAmongOthers() throws Exception {
    topics("alone", 1);
    topics("mixed", 2);
    StreamingHarness.produce(kafka.bootstrapServers(), "alone.instructions",
        StreamingHarness.asRecords("alone.instructions", StreamingHarness.colors("colors", 16)));
    StreamingHarness.produce(kafka.bootstrapServers(), "mixed.instructions", StreamingHarness.interleave(
        StreamingHarness.asRecords("mixed.instructions", StreamingHarness.opposites("opposites", 16)),
        StreamingHarness.asRecords("mixed.instructions", StreamingHarness.colors("colors", 16)),
        StreamingHarness.asRecords("mixed.instructions", StreamingHarness.opposites("more", 16))));
    List<AdapterSnapshot> alone = runUntil(StreamingHarness.job(kafka.bootstrapServers(), "alone",
        tmp.resolve("b-alone")).build(), 2);
    List<AdapterSnapshot> mixed = runUntil(StreamingHarness.job(kafka.bootstrapServers(), "mixed",
        tmp.resolve("b-mixed")).build(), 6);
    AdapterSnapshot a = alone.stream().filter(s -> s.getVersion() == 2).findFirst().orElseThrow();
    AdapterSnapshot m = mixed.stream().filter(s -> s.getAdapterId().equals("colors") && s.getVersion() == 2)
        .findFirst().orElseThrow();
    assertTrue(java.util.Arrays.equals(inlineBytes(a), inlineBytes(m)), "adapter bytes differ");
    AdapterSnapshot other = mixed.stream().filter(s -> s.getAdapterId().equals("opposites") && s.getVersion() == 2)
        .findFirst().orElseThrow();
    assertTrue(!java.util.Arrays.equals(inlineBytes(a), inlineBytes(other)), "different data, same bytes");
  }

  @Test
  void largeAdaptersTravelAsAClaimCheckOnABlobWrittenFirst() throws Exception {
    topics("claim", 1);
    StreamingHarness.produce(kafka.bootstrapServers(), "claim.instructions",
        StreamingHarness.asRecords("claim.instructions", StreamingHarness.colors("big-one", 8)));
    Path blobs = tmp.resolve("b-claim");
    StreamingJob job = StreamingHarness.job(kafka.bootstrapServers(), "claim", blobs)
        .snapshotPolicy(new io.bonestream.operators.publish.SnapshotPolicy(2, 0, 0, 1024, blobs.toUri().toString()))
        .build();
    AdapterSnapshot s = runUntil(job, 1).get(0);
    assertTrue(s.getPayload() instanceof io.bonestream.schemas.ClaimCheck, "expected a claim check");
    var claim = (io.bonestream.schemas.ClaimCheck) s.getPayload();
    Path dir = Path.of(java.net.URI.create(claim.getUri()));
    assertEquals(blobs.resolve("big-one").resolve("1").toAbsolutePath(), dir.toAbsolutePath());
    byte[] weights = java.nio.file.Files.readAllBytes(dir.resolve("adapter_model.safetensors"));
    assertEquals(claim.getSize(), weights.length);
    java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
    assertEquals(claim.getSha256(), java.util.HexFormat.of().formatHex(sha.digest(weights)));
    // the folder is a PEFT adapter the engine reads back
    var base = io.bonestream.engine.model.BaseModel.load(io.bonestream.engine.TestFiles.stories260K());
    assertEquals(4, io.bonestream.engine.peft.PeftImporter.read(dir, base).config().r());
  }

  @Test
  void aCheckpointHoldsTheAdapterStateAndNotTheBaseModel() throws Exception {
    topics("ckpt", 1);
    StreamingHarness.produce(kafka.bootstrapServers(), "ckpt.instructions", StreamingHarness.interleave(
        StreamingHarness.asRecords("ckpt.instructions", StreamingHarness.colors("one", 8)),
        StreamingHarness.asRecords("ckpt.instructions", StreamingHarness.opposites("two", 8))));
    Path checkpoints = tmp.resolve("checkpoints");
    Configuration conf = new Configuration();
    conf.setString("state.backend.type", "hashmap");
    conf.setString("execution.checkpointing.dir", checkpoints.toUri().toString());
    // bone r 8: 288 KB of training state per adapter, so the fixed part of a checkpoint (about 45 KB
    // since the control topic's source and decoder: the operators' metadata, the sources' offsets)
    // is small beside it, and the base model (1 MB) would not fit in the bound
    var bone = new io.bonestream.operators.train.AdapterProfile(io.bonestream.core.adapters.AdapterConfig.builder()
        .method(io.bonestream.core.adapters.AdapterMethod.BONE).r(8).build(),
        io.bonestream.engine.config.TrainConfig.builder().lr(1e-2).batchSize(4).maxSeqLen(64).build());
    StreamingJob job = StreamingHarness.job(kafka.bootstrapServers(), "ckpt", tmp.resolve("b-ckpt"))
        .profiles(io.bonestream.operators.train.AdapterProfiles.of(bone)).build();
    JobClient client = start(job, conf);
    long size;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), "ckpt.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 2);
      // the versions are committed with a checkpoint; the one after it follows the last step
      Path jobDir = checkpoints.resolve(client.getJobID().toString());
      Checkpoints.awaitNewerThan(jobDir, Checkpoints.latestId(jobDir));
      size = Checkpoints.latestSize(jobDir);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    // what the two adapters' training states weigh (the encoded size does not depend on the values)
    var base = io.bonestream.engine.model.BaseModel.load(io.bonestream.engine.TestFiles.stories260K());
    var profile = job.profiles().defaults();
    long stateBytes = 2L * io.bonestream.engine.backend.TrainingStateCodec.encode(
        io.bonestream.engine.train.Trainer.create(base, profile.adapter(), profile.train()).state()).length;
    double ratio = (double) size / stateBytes;
    assertTrue(ratio > 0.97 && ratio < 1.10, "checkpoint " + size + " bytes vs training state " + stateBytes);
    assertTrue(size < java.nio.file.Files.size(io.bonestream.engine.TestFiles.stories260K().resolve("model.safetensors")));
  }

  @Test
  @org.junit.jupiter.api.Timeout(400)
  void everyBadRecordGoesToTheDeadLetterTopicWithItsReason() throws Exception {
    topics("dlq", 1);
    String topic = "dlq.instructions";
    List<org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]>> records = new ArrayList<>(
        StreamingHarness.asRecords(topic, StreamingHarness.colors("good", 8)));
    java.util.function.Function<io.bonestream.schemas.InstructionRecord.Builder, byte[]> enc = b ->
        KafkaClients.instruction(topic, b.build()).value();
    var ok = io.bonestream.schemas.InstructionRecord.newBuilder().setAdapterId("good").setExampleId("x");
    var bad = new java.util.LinkedHashMap<String, byte[]>();
    bad.put("NOT_AVRO", "hello, not avro".getBytes());
    bad.put("UNKNOWN_SCHEMA", StreamingHarnessSchemas.futureVersionBytes());
    bad.put("MISSING_FIELD", enc.apply(io.bonestream.schemas.InstructionRecord.newBuilder(ok.build()).setPrompt("Hi")));
    bad.put("EMPTY_RESPONSE", enc.apply(io.bonestream.schemas.InstructionRecord.newBuilder(ok.build())
        .setPrompt("Hi").setResponse("")));
    bad.put("NO_TARGET_AFTER_TRUNCATION", enc.apply(io.bonestream.schemas.InstructionRecord.newBuilder(ok.build())
        .setMessages(List.of(
            io.bonestream.schemas.ChatMessage.newBuilder().setRole("assistant").setContent("Hello.").build(),
            io.bonestream.schemas.ChatMessage.newBuilder().setRole("user")
                .setContent("tell me a long story about the park and the ball ".repeat(8)).build()))));
    bad.put("INVALID_ADAPTER_ID", enc.apply(io.bonestream.schemas.InstructionRecord.newBuilder(ok.build())
        .setAdapterId("../x").setPrompt("Hi").setResponse("Hello.")));
    bad.put("UNKNOWN_ROLE", enc.apply(io.bonestream.schemas.InstructionRecord.newBuilder(ok.build())
        .setMessages(List.of(io.bonestream.schemas.ChatMessage.newBuilder().setRole("wizard").setContent("Hi").build()))));
    bad.forEach((reason, value) -> records.add(new org.apache.kafka.clients.producer.ProducerRecord<>(topic,
        reason.getBytes(), value)));
    StreamingHarness.produce(kafka.bootstrapServers(), topic, records);
    // a request on the control topic that is not one: dead-lettered too (the control source reads it)
    byte[] control = "{\"type\": \"erase\", \"adapter_id\": \"good\", \"example_id\": \"x\", \"user_id\": \"u\"}"
        .getBytes();
    kafka.createTopic("dlq.control", 1, false);
    StreamingHarness.produce(kafka.bootstrapServers(), "dlq.control", List.of(
        new org.apache.kafka.clients.producer.ProducerRecord<>("dlq.control", "good".getBytes(), control)));
    JobClient client = start(StreamingHarness.job(kafka.bootstrapServers(), "dlq", tmp.resolve("b-dlq")).build());
    List<io.bonestream.schemas.DeadLetter> letters;
    List<AdapterSnapshot> snaps;
    try {
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), "dlq.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 1);
      letters = StreamingHarness.readDeadLetters(kafka.bootstrapServers(), "dlq.dlq", Duration.ofSeconds(60),
          n -> n >= bad.size() + 1);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    assertEquals(bad.size() + 1, letters.size());
    for (io.bonestream.schemas.DeadLetter d : letters) {
      if (d.getTopic().equals("dlq.control")) {
        assertEquals("INVALID_CONTROL_RECORD", d.getErrorCode());
        assertTrue(d.getErrorMessage().contains("not both"), d.getErrorMessage());
        assertTrue(java.util.Arrays.equals(control, toBytes(d.getOriginal())));
        continue;
      }
      String expected = new String(bad.keySet().stream().filter(k -> java.util.Arrays.equals(
          toBytes(d.getOriginal()), bad.get(k))).findFirst().orElseThrow().getBytes());
      assertEquals(expected, d.getErrorCode(), d.getErrorMessage());
      assertEquals("dlq.instructions", d.getTopic());
      assertTrue(d.getOffset() >= 8);
    }
    // count in = trained + dead-lettered
    assertEquals(8 + bad.size(), snaps.get(0).getStats().getExamples() + letters.size() - 1);
  }

  @Test
  @org.junit.jupiter.api.Timeout(300)
  void aControlTopicCreatedAfterTheStartIsRead() throws Exception {
    topics("late", 1);
    StreamingHarness.produce(kafka.bootstrapServers(), "late.instructions",
        StreamingHarness.asRecords("late.instructions", StreamingHarness.colors("good", 8)));
    JobClient client = start(StreamingHarness.job(kafka.bootstrapServers(), "late", tmp.resolve("b-late"))
        .partitionDiscoveryMs(500).build());
    List<io.bonestream.schemas.DeadLetter> letters;
    try {
      // the job runs without its control topic
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), "late.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 1);
      kafka.createTopic("late.control", 1, false);
      StreamingHarness.produce(kafka.bootstrapServers(), "late.control", List.of(
          new org.apache.kafka.clients.producer.ProducerRecord<>("late.control", "good".getBytes(),
              "{\"type\": \"erase\", \"adapter_id\": \"good\"}".getBytes())));
      letters = StreamingHarness.readDeadLetters(kafka.bootstrapServers(), "late.dlq", Duration.ofSeconds(90),
          n -> n > 0);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    assertEquals(1, letters.size());
    assertEquals("INVALID_CONTROL_RECORD", letters.get(0).getErrorCode());
    assertEquals("late.control", letters.get(0).getTopic());
    assertEquals(0, letters.get(0).getOffset(), "from the new topic's first record");
  }

  @Test
  @org.junit.jupiter.api.Timeout(400)
  void anErasureOnTheControlTopicReachesItsAdapterPastTheAdapterCap() throws Exception {
    topics("erase", 1);
    kafka.createTopic("erase.control", 1, false);
    // 8 examples train v1 (2 steps of 4); the last 2, of user u-1, stay buffered
    List<io.bonestream.schemas.InstructionRecord> first = new ArrayList<>(StreamingHarness.colors("good", 10));
    for (int i = 8; i < 10; i++) {
      first.set(i, io.bonestream.schemas.InstructionRecord.newBuilder(first.get(i))
          .setMetadata(Map.of("user_id", "u-1")).build());
    }
    StreamingHarness.produce(kafka.bootstrapServers(), "erase.instructions",
        StreamingHarness.asRecords("erase.instructions", first));
    // one adapter at most: an erasure must neither be refused by the cap nor take the place of an adapter;
    // control keys: only signed requests are acted on
    java.security.KeyPair controlKey = io.bonestream.schemas.SigningKeys.generate();
    var signer = io.bonestream.schemas.SigningKeys.signer(io.bonestream.schemas.SigningKeys.privatePem(controlKey),
        "control key");
    JobClient client = start(StreamingHarness.job(kafka.bootstrapServers(), "erase", tmp.resolve("b-erase"))
        .quotas(new io.bonestream.operators.train.Quotas(1, 1.0, 65_536))
        .controlTrust(new io.bonestream.operators.decode.ControlTrust(
            List.of(io.bonestream.schemas.SigningKeys.publicPem(controlKey.getPublic())), Duration.ofHours(1)))
        .build());
    List<AdapterSnapshot> snaps;
    List<io.bonestream.schemas.DeadLetter> letters;
    byte[] signedU1;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), "erase.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 1);
      java.time.Instant now = java.time.Instant.now();
      signedU1 = io.bonestream.operators.decode.ControlRecords.erase("good", null, "u-1", false, signer, now);
      StreamingHarness.produce(kafka.bootstrapServers(), "erase.control", List.of(
          new org.apache.kafka.clients.producer.ProducerRecord<>("erase.control", "nobody".getBytes(),
              io.bonestream.operators.decode.ControlRecords.erase("nobody", "x", null, false, signer, now)),
          new org.apache.kafka.clients.producer.ProducerRecord<>("erase.control", "good".getBytes(), signedU1),
          new org.apache.kafka.clients.producer.ProducerRecord<>("erase.control", "good".getBytes(),
              io.bonestream.operators.decode.ControlRecords.erase("good", null, "u-2", true)),
          new org.apache.kafka.clients.producer.ProducerRecord<>("erase.control", "good".getBytes(), signedU1),
          new org.apache.kafka.clients.producer.ProducerRecord<>("erase.control", "good".getBytes(),
              "{\"type\": \"erase\", \"adapter_id\": \"good\"}".getBytes())));
      // the requests reach the trainer before the next examples (which come by another source): the last
      // record is one decode-control refuses, and its dead letter is committed at an aligned checkpoint,
      // which completes only after every operator, the trainer too, took what came before its barrier
      StreamingHarness.readDeadLetters(kafka.bootstrapServers(), "erase.dlq", Duration.ofSeconds(60),
          n -> n >= 3);
      StreamingHarness.produce(kafka.bootstrapServers(), "erase.instructions",
          StreamingHarness.asRecords("erase.instructions", StreamingHarness.colors("good", 8)));
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), "erase.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 2);
      letters = StreamingHarness.readDeadLetters(kafka.bootstrapServers(), "erase.dlq", Duration.ofSeconds(30),
          n -> n >= 3);
      letters = new ArrayList<>(letters);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    assertEquals(List.of("good", "good"), snaps.stream().map(a -> a.getAdapterId().toString()).toList(),
        "an erasure for an adapter the job does not train creates none");
    // nothing refused but the unsigned request, the copy of a signed one and the invalid last record (the cap
    // of one adapter is not reached by a request)
    letters.sort(java.util.Comparator.comparingLong(io.bonestream.schemas.DeadLetter::getOffset));
    assertEquals(3, letters.size(), letters.toString());
    assertEquals(4L, letters.get(2).getOffset());
    io.bonestream.schemas.DeadLetter letter = letters.get(0);
    assertEquals("erase.control", letter.getTopic());
    assertEquals(2L, letter.getOffset());
    assertEquals("INVALID_CONTROL_RECORD", letter.getErrorCode());
    assertTrue(letter.getErrorMessage().startsWith("unsigned"), letter.getErrorMessage());
    io.bonestream.schemas.DeadLetter copy = letters.get(1);
    assertEquals(3L, copy.getOffset());
    assertEquals("INVALID_CONTROL_RECORD", copy.getErrorCode());
    assertTrue(copy.getErrorMessage().startsWith("a copy of a signed request"), copy.getErrorMessage());
    assertArrayEquals(signedU1, java.util.Arrays.copyOfRange(copy.getOriginal().array(),
        copy.getOriginal().arrayOffset() + copy.getOriginal().position(),
        copy.getOriginal().arrayOffset() + copy.getOriginal().limit()), "the request as written");
    var erasures = snaps.get(1).getErasures();
    assertEquals(1, erasures.size(), erasures.toString());
    assertEquals("u-1", erasures.get(0).getUserId());
    assertEquals("erase.control", erasures.get(0).getTopic());
    assertEquals(1L, erasures.get(0).getOffset());
    assertEquals(2, erasures.get(0).getRemovedBuffered(), erasures.toString());
    assertTrue(snaps.get(0).getErasures().isEmpty());
  }

  @Test
  @org.junit.jupiter.api.Timeout(300)
  void aRequestToEveryAdapterReachesEachTheJobHoldsThoseWithoutAVersionToo() throws Exception {
    topics("every", 1);
    kafka.createTopic("every.control", 1, false);
    // alpha: 8 examples train v1, then 2 of user u-1 stay buffered; beta: 3 examples, one of u-1, no version yet
    List<io.bonestream.schemas.InstructionRecord> alpha = new ArrayList<>(StreamingHarness.colors("alpha", 10));
    List<io.bonestream.schemas.InstructionRecord> beta = new ArrayList<>(StreamingHarness.opposites("beta", 3));
    for (int i = 8; i < 10; i++) {
      alpha.set(i, io.bonestream.schemas.InstructionRecord.newBuilder(alpha.get(i))
          .setMetadata(Map.of("user_id", "u-1")).build());
    }
    beta.set(1, io.bonestream.schemas.InstructionRecord.newBuilder(beta.get(1)).setMetadata(Map.of("user_id", "u-1"))
        .build());
    // beta's first: alpha's first version, committed at an aligned checkpoint, proves they reached the trainer
    List<io.bonestream.schemas.InstructionRecord> first = new ArrayList<>(beta);
    first.addAll(alpha);
    StreamingHarness.produce(kafka.bootstrapServers(), "every.instructions",
        StreamingHarness.asRecords("every.instructions", first));
    JobClient client = start(StreamingHarness.job(kafka.bootstrapServers(), "every", tmp.resolve("b-every")).build());
    List<AdapterSnapshot> snaps;
    try {
      StreamingHarness.readSnapshots(kafka.bootstrapServers(), "every.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 1);
      // the request, then a record decode-control refuses: its dead letter, committed at an aligned checkpoint,
      // proves the request's copies reached the trainer (sooner than the control source's offset commit, which
      // an idle source makes only once its fetch of up to 10 s returns)
      StreamingHarness.produce(kafka.bootstrapServers(), "every.control", List.of(
          new org.apache.kafka.clients.producer.ProducerRecord<>("every.control", "*".getBytes(),
              io.bonestream.operators.decode.ControlRecords.erase(io.bonestream.operators.EveryAdapter.ID, null, "u-1",
                  false)),
          new org.apache.kafka.clients.producer.ProducerRecord<>("every.control", "*".getBytes(),
              "{\"type\": \"erase\", \"adapter_id\": \"*\"}".getBytes())));
      StreamingHarness.readDeadLetters(kafka.bootstrapServers(), "every.dlq", Duration.ofSeconds(60), n -> n >= 1);
      List<io.bonestream.schemas.InstructionRecord> more = new ArrayList<>(StreamingHarness.colors("alpha", 8));
      more.addAll(StreamingHarness.opposites("beta", 6)); // beta's 2 left and 6: two steps, its first version
      StreamingHarness.produce(kafka.bootstrapServers(), "every.instructions",
          StreamingHarness.asRecords("every.instructions", more));
      snaps = StreamingHarness.readSnapshots(kafka.bootstrapServers(), "every.adapters", Duration.ofSeconds(120),
          s -> s.size() >= 3);
    } finally {
      client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
    }
    Map<String, List<AdapterSnapshot>> byAdapter = new java.util.TreeMap<>();
    snaps.forEach(m -> byAdapter.computeIfAbsent(m.getAdapterId().toString(), k -> new ArrayList<>()).add(m));
    assertEquals(List.of("alpha", "beta"), List.copyOf(byAdapter.keySet()), snaps.toString());
    assertTrue(byAdapter.get("alpha").get(0).getErasures().isEmpty());
    AdapterSnapshot alphaV2 = byAdapter.get("alpha").get(1);
    AdapterSnapshot betaV1 = byAdapter.get("beta").get(0);
    for (AdapterSnapshot v : List.of(alphaV2, betaV1)) {
      assertEquals(1, v.getErasures().size(), v.getAdapterId() + ": " + v.getErasures());
      assertEquals("u-1", v.getErasures().get(0).getUserId());
      assertEquals(0L, v.getErasures().get(0).getOffset());
    }
    assertEquals(2, alphaV2.getErasures().get(0).getRemovedBuffered());
    assertEquals(1, betaV1.getErasures().get(0).getRemovedBuffered(), "beta, which had no version, forgot u-1 too");
    long trained = betaV1.getLineage().stream().mapToLong(io.bonestream.schemas.OffsetRange::getRecords).sum();
    assertEquals(8, trained, "beta's first version: its 2 other first examples and the 6 after, not u-1's");
  }

  private static byte[] toBytes(java.nio.ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
