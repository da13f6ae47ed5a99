package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.model.HostModel;
import io.bonestream.engine.TestFiles;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.AdapterUpdate;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Records that drive an adapter's loss to infinity (a learning rate of 1e35: its adapter overflows float32): its
 * steps are skipped and counted, no non-finite tensor is published, and a subscriber accepts every
 * version that is published (it refuses non-finite ones: {@code SubscriberIT}).
 */
class NonFiniteIT {
  @TempDir Path tmp;

  @Test
  void divergingStepsAreSkippedAndNothingNonFiniteIsPublished() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("nf.instructions", "nf.adapters", "nf.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      StreamingHarness.produce(bootstrap, "nf.instructions", StreamingHarness.asRecords("nf.instructions",
          StreamingHarness.interleave(StreamingHarness.colors("wild", 48), StreamingHarness.colors("calm", 48))));
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "nf",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "adapters: [{match: wild, optimizer: sgd, lr: 1.0e+35, max-grad-norm: 0}]",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}");
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(0, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "non-finite");
      List<AdapterSnapshot> versions;
      try {
        versions = StreamingHarness.readSnapshots(bootstrap, "nf.adapters", Duration.ofSeconds(180),
            s -> s.size() >= 12);
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
      AdapterSnapshot lastWild = versions.stream().filter(v -> v.getAdapterId().equals("wild"))
          .reduce((a, b) -> b).orElseThrow();
      assertTrue(lastWild.getStats().getSkippedSteps() > 0, "no step was skipped: " + lastWild.getStats());
      assertEquals(0, versions.stream().filter(v -> v.getAdapterId().equals("calm"))
          .mapToLong(v -> v.getStats().getSkippedSteps()).max().orElseThrow(), "the calm adapter skipped steps");

      List<AdapterUpdate> updates = new CopyOnWriteArrayList<>();
      try (AdapterSubscriber s = AdapterSubscriber.builder().allowUnsigned(true).bootstrapServers(bootstrap)
          .topic("nf.adapters").baseModel(HostModel.load(TestFiles.stories260K()))
          .registry(AdapterRegistry.builder().build()).build()) {
        s.addListener(updates::add);
        s.start();
        assertTrue(s.awaitReady(Duration.ofSeconds(60)));
      }
      assertEquals(0, updates.stream().filter(u -> u instanceof AdapterUpdate.Refused).count(), updates.toString());
      assertEquals(versions.size(), updates.size());
    }
  }
}
