package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.util.Json;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.decode.InputFormat;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.RegistrySettings;
import io.bonestream.operators.decode.TestRegistry;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import io.bonestream.operators.decode.ValueSource;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three topics in three formats at once, each into its own adapter: Avro InstructionRecords
 * (adapter id from the record), ShareGPT JSON (adapter id from the record key) and the
 * application's own Avro schema in the Confluent wire format, its schema in a real registry
 * (Apicurio), read by field names (adapter id a constant of the topic). The job fails once on the
 * way; afterwards every adapter has each version exactly once, and its bytes equal those of a run
 * that read the same examples as Avro from one topic: the formats change nothing but the reading.
 */
class InputFormatsIT {
  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  private static final int PER_ADAPTER = 16; // 4 steps of 4, a version every 2 steps: 2 versions
  private static final AtomicBoolean FAILED = new AtomicBoolean();
  private static final AtomicInteger PASSED = new AtomicInteger();

  /** Lets 5 manifests through, then fails the job once. */
  static final class FailOnce implements MapFunction<EncodedRecord, EncodedRecord> {
    @Override
    public EncodedRecord map(EncodedRecord r) {
      if (PASSED.incrementAndGet() > 5 && FAILED.compareAndSet(false, true)) {
        throw new IllegalStateException("injected failure");
      }
      return r;
    }
  }

  @TempDir Path tmp;

  @Test
  void threeTopicsInThreeFormatsTrainThreeAdaptersExactlyOnce() throws Exception {
    List<InstructionRecord> colors = StreamingHarness.colors("colors", PER_ADAPTER);
    // as chats: the JSON topic carries them as ShareGPT conversations, the reference as Avro messages
    List<InstructionRecord> opposites = asChats(StreamingHarness.opposites("opposites", PER_ADAPTER));
    List<InstructionRecord> tickets = tickets(PER_ADAPTER);
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true);
        TestRegistry registry = TestRegistry.start()) {
      for (String t : List.of("ref.instructions", "ref.adapters", "ref.dlq", "in.avro", "in.chats", "in.tickets",
          "fmt.adapters", "fmt.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      // the reference: every example as Avro on one topic
      StreamingHarness.produce(bootstrap, "ref.instructions", StreamingHarness.asRecords("ref.instructions",
          StreamingHarness.interleave(colors, opposites, tickets)));
      Map<String, List<AdapterSnapshot>> reference = run(StreamingHarness.job(bootstrap, "ref", tmp.resolve("blobs"))
          .build(), bootstrap, "ref.adapters", "reference");

      // the same examples in three encodings on three topics
      StreamingHarness.produce(bootstrap, "in.avro", StreamingHarness.asRecords("in.avro", colors));
      List<ProducerRecord<byte[], byte[]>> chats = new ArrayList<>();
      for (InstructionRecord r : opposites) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        var turns = o.putArray("conversations");
        turns.addObject().put("from", "human").put("value", r.getMessages().get(0).getContent());
        turns.addObject().put("from", "gpt").put("value", r.getMessages().get(1).getContent());
        chats.add(new ProducerRecord<>("in.chats", r.getAdapterId().getBytes(StandardCharsets.UTF_8),
            Json.MAPPER.writeValueAsBytes(o)));
      }
      StreamingHarness.produce(bootstrap, "in.chats", chats);
      // the application's own Avro schema, registered in a real registry; Confluent wire format
      int schemaId = registry.register("in.tickets-value", TICKET.toString());
      List<ProducerRecord<byte[], byte[]>> ticketRecords = new ArrayList<>();
      for (InstructionRecord r : tickets) {
        GenericRecord t = new GenericData.Record(TICKET);
        t.put("id", r.getExampleId());
        t.put("question", r.getPrompt());
        t.put("answer", r.getResponse());
        t.put("priority", 2);
        ticketRecords.add(new ProducerRecord<>("in.tickets", null, confluentFramed(schemaId, t)));
      }
      StreamingHarness.produce(bootstrap, "in.tickets", ticketRecords);
      var job = StreamingHarness.job(bootstrap, "fmt", tmp.resolve("blobs"))
          .inputs(List.of(
              InputSpec.avro("in.avro"),
              InputSpec.builder().topic("in.chats").format(InputFormat.JSON).adapterId(new ValueSource.Key()).build(),
              InputSpec.builder().topic("in.tickets").format(InputFormat.AVRO_REGISTRY)
                  .registry(RegistrySettings.builder(registry.url()).build())
                  .fields(FieldNames.of(Map.of("prompt", "question", "response", "answer")))
                  .adapterId(new ValueSource.Constant("tickets")).exampleId(new ValueSource.Field("id")).build()))
          .manifestStep(new FailOnce())
          .build();
      Map<String, List<AdapterSnapshot>> formats = run(job, bootstrap, "fmt.adapters", "formats");
      assertTrue(FAILED.get(), "the failure was not injected");

      for (String adapter : List.of("colors", "opposites", "tickets")) {
        List<AdapterSnapshot> got = formats.get(adapter);
        assertEquals(LongStream.rangeClosed(1, PER_ADAPTER / 8).boxed().toList(),
            got.stream().map(AdapterSnapshot::getVersion).toList(), adapter + ": each version exactly once");
        List<AdapterSnapshot> ref = reference.get(adapter);
        assertEquals(got.size(), ref.size(), adapter);
        for (int v = 0; v < got.size(); v++) {
          assertArrayEquals(bytes(ref.get(v)), bytes(got.get(v)), adapter + "@" + (v + 1)
              + " differs from the run that read the same examples as Avro");
        }
      }
    }
  }

  /** Runs {@code job} until each of its three adapters has its versions; returns them by adapter. */
  private Map<String, List<AdapterSnapshot>> run(io.bonestream.operators.StreamingJob job, String bootstrap, String adaptersTopic, String name) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    env.enableCheckpointing(10_000, CheckpointingMode.EXACTLY_ONCE);
    job.addTo(env);
    JobClient client = env.executeAsync(name);
    try {
      StreamingHarness.readSnapshots(bootstrap, adaptersTopic, Duration.ofSeconds(240),
          s -> s.stream().map(AdapterSnapshot::getAdapterId).distinct().count() == 3
              && s.stream().filter(x -> x.getVersion() == PER_ADAPTER / 8).count() >= 3);
      StreamingHarness.stopWithSavepoint(client, tmp.resolve("savepoints-" + name));
    } finally {
      if (!client.getJobStatus().get(1, TimeUnit.MINUTES).isGloballyTerminalState()) {
        client.cancel().get(1, TimeUnit.MINUTES);
      }
    }
    Map<String, List<AdapterSnapshot>> byAdapter = new TreeMap<>();
    for (AdapterSnapshot s : StreamingHarness.allSnapshots(bootstrap, adaptersTopic)) {
      byAdapter.computeIfAbsent(s.getAdapterId(), k -> new ArrayList<>()).add(s);
    }
    return byAdapter;
  }

  private static byte[] bytes(AdapterSnapshot s) {
    ByteBuffer b = ((InlineAdapter) s.getPayload()).getAdapterModelSafetensors().duplicate();
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }

  private static List<InstructionRecord> asChats(List<InstructionRecord> rs) {
    List<InstructionRecord> out = new ArrayList<>();
    for (InstructionRecord r : rs) {
      out.add(InstructionRecord.newBuilder().setAdapterId(r.getAdapterId()).setExampleId(r.getExampleId())
          .setMessages(List.of(
              io.bonestream.schemas.ChatMessage.newBuilder().setRole("user").setContent(r.getPrompt()).build(),
              io.bonestream.schemas.ChatMessage.newBuilder().setRole("assistant").setContent(r.getResponse()).build()))
          .build());
    }
    return out;
  }

  private static final Schema TICKET = SchemaBuilder.record("SupportTicket").namespace("com.example.helpdesk")
      .fields().requiredString("id").requiredString("question").requiredString("answer").requiredInt("priority")
      .endRecord();

  /** Magic byte 0, the schema id (4 bytes, big-endian), the Avro binary. */
  private static byte[] confluentFramed(int schemaId, GenericRecord r) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    out.write(0);
    out.write(ByteBuffer.allocate(4).putInt(schemaId).array());
    BinaryEncoder e = EncoderFactory.get().binaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(TICKET).write(r, e);
    e.flush();
    return out.toByteArray();
  }

  /** Support tickets: "How do I ... ?" → an answer. */
  private static List<InstructionRecord> tickets(int n) {
    String[][] qa = {{"reset my password", "Open Settings and choose Reset."}, {"change my email", "Open Account."},
        {"close my account", "Write to support."}, {"pay an invoice", "Open Billing."}};
    List<InstructionRecord> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String[] p = qa[i % qa.length];
      out.add(InstructionRecord.newBuilder().setAdapterId("tickets").setExampleId("t-" + i)
          .setPrompt("How do I " + p[0] + "?").setResponse(p[1]).build());
    }
    return out;
  }
}
