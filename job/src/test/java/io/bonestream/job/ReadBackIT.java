package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a signing job reads back from its adapters topic on start, when someone else wrote to it:
 * a manifest re-keyed under another adapter, an unsigned or foreign-signed one, one with a version
 * near {@code Long.MAX_VALUE}, and one signed with the job's key whose payload is garbage. None is
 * continued from (the adapters start anew, numbered as if the refused manifests were not there, or
 * after the garbage one), the job never fails, and the one genuine manifest is continued from.
 */
class ReadBackIT {
  @TempDir Path tmp;

  @Test
  void forgedReKeyedOverflowingAndGarbageManifestsAreNeitherContinuedFromNorFatal() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("rb.instructions", "rb.adapters", "rb.dlq", "rb.gated")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      SigningKeys.write(SigningKeys.generate(), tmp.resolve("keys"), "signing");
      SigningKeys.Signer job = SigningKeys.signer(java.nio.file.Files.readString(tmp.resolve("keys/signing.key")), "k");
      SigningKeys.Signer stranger = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "s");
      BaseModel base = BaseModel.load(TestFiles.stories260K());
      List<String> adapters = List.of("good", "rekeyed", "forged", "foreign", "huge", "garbage");
      try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
        AdapterSnapshot good = ManifestSignatures.sign(new Manifests(base, tok, "good", AdapterMethod.BAT).next(2, 2), job);
        Manifests.publishAs(bootstrap, "rb.adapters", "good", good);
        Manifests.publishAs(bootstrap, "rb.adapters", "rekeyed", good); // good's weights under another adapter
        Manifests.publishAs(bootstrap, "rb.adapters", "forged",
            new Manifests(base, tok, "forged", AdapterMethod.BAT).next(5, 1)); // unsigned
        Manifests.publishAs(bootstrap, "rb.adapters", "foreign",
            ManifestSignatures.sign(new Manifests(base, tok, "foreign", AdapterMethod.BAT).next(5, 1), stranger));
        Manifests.publishAs(bootstrap, "rb.adapters", "huge", ManifestSignatures.sign(
            new Manifests(base, tok, "huge", AdapterMethod.BAT).next(Long.MAX_VALUE, 1), job));
        Manifests garbage = new Manifests(base, tok, "garbage", AdapterMethod.BAT);
        Manifests.publishAs(bootstrap, "rb.adapters", "garbage", ManifestSignatures.sign(garbage.manifest(4)
            .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson(garbage.files().configJson())
                .setAdapterModelSafetensors(ByteBuffer.wrap("not safetensors".getBytes())).build()).build(), job));
      }
      List<io.bonestream.schemas.InstructionRecord> records = new ArrayList<>();
      for (String a : adapters) {
        records.addAll(StreamingHarness.colors(a, 8));
      }
      StreamingHarness.produce(bootstrap, "rb.instructions", StreamingHarness.asRecords("rb.instructions", records));

      JobConfig c = TestJobYaml.write(tmp, bootstrap, "rb",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}",
          "signing: {private-key-file: \"" + tmp.resolve("keys/signing.key") + "\"}");
      int ui = EmbeddedKafka.freePort();
      JobClient client = LocalFlink.start(c.job(), LocalFlink.configuration(ui, EmbeddedKafka.freePort(), 1,
          c.checkpointDir(), c.flink()), c.checkpointIntervalMs(), "read-back");
      List<AdapterSnapshot> all;
      try {
        // the six injected manifests, then one version of each adapter from the job
        all = StreamingHarness.readSnapshots(bootstrap, "rb.adapters", Duration.ofMinutes(2), s -> s.size() >= 12);
        StreamingHarness.assertNeverFailed(client, ui);
      } finally {
        client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }
      Map<String, AdapterSnapshot> first = new TreeMap<>();
      for (AdapterSnapshot m : all.subList(6, all.size())) {
        first.putIfAbsent(m.getAdapterId(), m);
        assertEquals(job.keyId(), m.getSignatureKeyId(), m.getAdapterId() + "@" + m.getVersion() + " signed by the job");
      }
      assertEquals(new java.util.TreeSet<>(adapters), first.keySet());
      // the genuine manifest is continued from
      assertEquals(3, first.get("good").getVersion());
      assertEquals("NO_STATE", first.get("good").getResumedFrom().getReason());
      assertEquals(2, first.get("good").getResumedFrom().getVersion());
      // the refused ones neither number versions nor are continued from: new adapters, version 1
      for (String a : List.of("rekeyed", "forged", "foreign", "huge")) {
        assertEquals(1, first.get(a).getVersion(), a);
        assertNull(first.get(a).getResumedFrom(), a);
      }
      // a genuine manifest whose payload is unusable: a new adapter, numbered after it
      assertEquals(5, first.get("garbage").getVersion());
      assertEquals("UNUSABLE_SNAPSHOT", first.get("garbage").getResumedFrom().getReason());
      assertTrue(first.get("garbage").getResumedFrom().getFreshOptimizer());
    }
  }
}
