package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.JsonlDataset;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.engine.train.Trainer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.GatedSnapshots;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The anchor guard in the job (docs/continual.md): two adapters of one profile with an anchor set
 * (the repository's general stories), one trained gently, one with a far too high learning rate.
 * The harsh one's anchor loss rises far above the base model's and every one of its snapshots is
 * held back, to the gated topic with reason ANCHOR_LOSS; the gentle one publishes. The base model's
 * anchor loss is recomputed here with the base model alone.
 */
class AnchorGuardIT {
  private static final double TOLERANCE = 1.0; // the harsh adapter triples the anchor loss; the gentle one stays well within

  @TempDir Path tmp;

  @Test
  void versionsThatHarmTheBaseModelsGeneralAbilityNeverReachTheAdaptersTopic() throws Exception {
    Path anchor = TestFiles.models().getParent().resolve("examples/anchor-stories.jsonl");
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("ag.instructions", "ag.adapters", "ag.dlq", "ag.gated")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      StreamingHarness.produce(bootstrap, "ag.instructions", StreamingHarness.asRecords("ag.instructions",
          StreamingHarness.interleave(StreamingHarness.colors("gentle", 32), StreamingHarness.colors("harsh", 32))));
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "ag",
          "adapter-defaults: {method: bat, r: 4, lr: 1.0e-3, anchor: {file: \"" + anchor + "\", tolerance: " + TOLERANCE
              + "}}",
          "adapters: [{match: harsh, lr: 0.5}]",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}");
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1,
          c.checkpointDir(), c.flink()), c.checkpointIntervalMs(), "anchor-guard");
      List<AdapterSnapshot> published;
      List<GatedSnapshot> gated;
      try {
        // 32 records each: 8 steps, 4 snapshots each, published or held back
        long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
        while (true) {
          published = StreamingHarness.allSnapshots(bootstrap, "ag.adapters");
          gated = gated(bootstrap);
          if (published.size() + gated.size() >= 8) {
            break;
          }
          assertTrue(System.nanoTime() < deadline, published.size() + " published, " + gated.size() + " held back");
          Thread.sleep(300);
        }
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }

      BaseModel base = BaseModel.load(TestFiles.stories260K());
      double baseLoss;
      try (Tokenizer tokenizer = Tokenizer.load(TestFiles.stories260K(), base.config())) {
        ExampleEncoder encoder = new ExampleEncoder(tokenizer, 64, base.config().vocabSize());
        List<Example> anchorSet = JsonlDataset.read(anchor, new RecordParser(encoder));
        baseLoss = Trainer.evaluate(new Transformer(base, null), anchorSet, 8); // the base model alone
      }
      String seen = published.stream().map(m -> m.getAdapterId() + "@" + m.getVersion() + " anchor "
          + m.getStats().getAnchorLoss()).toList() + " held back: " + gated.stream().map(g -> g.getAdapterId() + " "
          + g.getReason() + " anchor " + g.getStats().getAnchorLoss()).toList() + ", base " + baseLoss;
      assertEquals(4, StreamingHarness.count(published, "gentle"), seen);
      assertEquals(0, StreamingHarness.count(published, "harsh"), "a harmful version reached the adapters topic");
      for (AdapterSnapshot m : published) {
        assertEquals(baseLoss, m.getStats().getBaseAnchorLoss(), 1e-6);
        assertTrue(m.getStats().getAnchorLoss() <= baseLoss * (1 + TOLERANCE), m.getStats().toString());
      }
      List<GatedSnapshot> harsh = gated.stream().filter(g -> g.getAdapterId().equals("harsh")).toList();
      assertEquals(4, harsh.size(), seen);
      for (GatedSnapshot g : harsh) {
        assertEquals("ANCHOR_LOSS", g.getReason());
        assertEquals(TOLERANCE, g.getTolerance());
        assertEquals(baseLoss, g.getStats().getBaseAnchorLoss(), 1e-6);
        assertTrue(g.getStats().getAnchorLoss() > baseLoss * (1 + TOLERANCE), g.getStats().toString());
        assertEquals(0, g.getAfterVersion(), "no version of the harsh adapter was ever published");
      }
    }
  }

  private static List<GatedSnapshot> gated(String bootstrap) throws Exception {
    List<GatedSnapshot> out = new ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> r : StreamingHarness.readToEnd(bootstrap, "ag.gated")) {
      out.add(GatedSnapshots.decode(r.value()));
    }
    return out;
  }
}
