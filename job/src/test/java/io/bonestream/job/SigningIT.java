package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.cli.Cli;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import org.apache.flink.core.execution.JobClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Signed manifests end to end on a real broker: the job signs every version; {@code serve
 * --public-key} serves them, and refuses an unsigned, a re-signed (another key), a forged (another
 * key under the trusted id) and a changed (payload swapped after signing) one with its reason,
 * the previous version serving on; {@code tail-snapshots --public-key} shows each verdict; the key
 * never shows in Flink's web UI.
 */
class SigningIT {
  @TempDir Path tmp;

  @Test
  void serveTrustsOnlyManifestsSignedWithItsKey() throws Exception {
    KeyPair pair = SigningKeys.generate();
    String keyId = SigningKeys.write(pair, tmp.resolve("keys"), "signing");
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      for (String t : List.of("sg.instructions", "sg.adapters", "sg.dlq")) {
        kafka.createTopic(t, 1, t.endsWith("adapters"));
      }
      String bootstrap = kafka.bootstrapServers();
      StreamingHarness.produce(bootstrap, "sg.instructions",
          StreamingHarness.asRecords("sg.instructions", StreamingHarness.colors("a", 16)));
      JobConfig c = TestJobYaml.write(tmp, bootstrap, "sg",
          "adapter-defaults: {r: 4, lr: 1.0e-2}",
          "batching: {max-examples: 4}",
          "snapshots: {every-steps: 2}",
          "signing: {private-key-file: \"" + tmp.resolve("keys/signing.key") + "\"}");
      int ui = EmbeddedKafka.freePort();
      JobClient job = LocalFlink.start(c.job(), LocalFlink.configuration(ui, EmbeddedKafka.freePort(), 1, c.checkpointDir(),
          c.flink()), c.checkpointIntervalMs(), "signing");
      HttpClient http = HttpClient.newHttpClient();
      try {
        List<AdapterSnapshot> signed = StreamingHarness.readSnapshots(bootstrap, "sg.adapters",
            Duration.ofSeconds(120), s -> s.size() >= 2);
        assertEquals(keyId, signed.get(0).getSignatureKeyId());
        // what the web UI shows of the job and the cluster holds no key material
        String privateKey = Base64.getEncoder().encodeToString(pair.getPrivate().getEncoded()).substring(0, 24);
        for (String path : List.of("/jobs/" + job.getJobID() + "/config", "/jobmanager/config")) {
          String body = get(http, "http://localhost:" + ui + path);
          assertFalse(body.contains(privateKey) || body.contains("PRIVATE KEY"), path + " shows the key");
        }
      } finally {
        job.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
      }

      int port = EmbeddedKafka.freePort();
      try (CliProcess serve = CliProcess.start(tmp.resolve("serve.log"), "serve", "--model",
          TestFiles.stories260K().toString(), "--bootstrap", bootstrap, "--topic", "sg.adapters",
          "--port", Integer.toString(port), "--public-key", tmp.resolve("keys/signing.pub").toString())) {
        awaitLog(serve, "serving a@2");
        BaseModel base = BaseModel.load(TestFiles.stories260K());
        try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
          Manifests m = new Manifests(base, tok, "a", AdapterMethod.BAT);
          SigningKeys.Signer trusted = SigningKeys.signer(Files.readString(tmp.resolve("keys/signing.key")), "key");
          SigningKeys.Signer other = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "other");
          AdapterSnapshot unsigned = m.next(3, 4);
          AdapterSnapshot resigned = ManifestSignatures.sign(m.next(4, 4), other);
          AdapterSnapshot forged = AdapterSnapshot.newBuilder(ManifestSignatures.sign(m.next(5, 4), other))
              .setSignatureKeyId(trusted.keyId()).build();
          AdapterSnapshot good6 = ManifestSignatures.sign(m.next(6, 4), trusted);
          AdapterSnapshot changed = AdapterSnapshot.newBuilder(good6).setPayload(InlineAdapter.newBuilder(
              (InlineAdapter) m.next(6, 4).getPayload()).build()).build();
          AdapterSnapshot good7 = ManifestSignatures.sign(m.next(7, 4), trusted);
          Manifests.publish(bootstrap, "sg.adapters", unsigned, resigned, forged, changed);
          awaitLog(serve, "refused a@6");
          String log = serve.output();
          assertTrue(log.contains("refused a@3: UNSIGNED"), log);
          assertTrue(log.contains("refused a@4: UNKNOWN_KEY"), log);
          assertTrue(log.contains("refused a@5: BAD_SIGNATURE"), log);
          assertTrue(log.contains("refused a@6: BAD_SIGNATURE"), log);
          JsonNode a = adapter(http, port);
          assertEquals(2, a.get("serving").asLong(), "the previous version serves on: " + a);
          assertEquals(4, a.get("refused").asLong(), a.toString());
          Manifests.publish(bootstrap, "sg.adapters", good7);
          awaitLog(serve, "serving a@7");
          assertEquals(7, adapter(http, port).get("serving").asLong());
        }
      }

      Cli tail = Cli.run("tail-snapshots", "--bootstrap", bootstrap, "--topic", "sg.adapters", "--from-beginning",
          "--timeout", "3s", "--public-key", tmp.resolve("keys/signing.pub").toString());
      List<String> verdicts = new java.util.ArrayList<>();
      for (String l : tail.out().lines().toList()) {
        verdicts.add(Json.MAPPER.readTree(l).get("signature").asText());
      }
      assertEquals(7, verdicts.size(), verdicts.toString());
      assertEquals(List.of("valid (" + keyId + ")", "valid (" + keyId + ")", "UNSIGNED"), verdicts.subList(0, 3));
      assertTrue(verdicts.get(3).startsWith("UNKNOWN_KEY (ed25519:"), verdicts.toString());
      assertEquals("BAD_SIGNATURE (" + keyId + ")", verdicts.get(4));
      assertEquals("BAD_SIGNATURE (" + keyId + ")", verdicts.get(5));
      assertEquals("valid (" + keyId + ")", verdicts.get(6));
    }
  }

  private static JsonNode adapter(HttpClient http, int port) throws Exception {
    for (JsonNode a : Json.MAPPER.readTree(get(http, "http://localhost:" + port + "/status.json")).get("adapters")) {
      if (a.get("id").asText().equals("a")) {
        return a;
      }
    }
    throw new AssertionError("adapter a not on the status page");
  }

  private static void awaitLog(CliProcess p, String line) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
    while (!p.output().contains(line)) {
      if (System.nanoTime() > deadline || !p.alive()) {
        throw new AssertionError("'" + line + "' never came:\n" + p.output());
      }
      Thread.sleep(200);
    }
  }

  private static String get(HttpClient http, String url) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
  }
}
