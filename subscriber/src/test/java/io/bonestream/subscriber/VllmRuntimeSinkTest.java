package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vLLM runtime sink against {@link VllmEmulator}, vLLM's LoRA API as its source defines it,
 * over real HTTP on loopback; versions arrive through a real subscriber ({@link AdapterSubscriber#apply}).
 * The emulator sees the export folder at {@value #PREFIX}, as a vLLM container would on a shared volume.
 */
@Timeout(60)
class VllmRuntimeSinkTest {
  static final String PREFIX = "/adapters";
  static final String BASE = "served-base";
  static final AdapterConfig BONE4 = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();

  @TempDir Path tmp;

  private AdapterSubscriber subscriber() {
    return AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE).allowUnsigned(true)
        .build();
  }

  private long offset;

  private void publish(AdapterSubscriber s, String id, long version, AdapterConfig config) {
    s.apply(TestManifests.record(TestManifests.inline(id, version, config, TestModels.files(config, version)),
        offset++));
  }

  private VllmRuntimeSink.Builder sink(VllmEmulator vllm) {
    return VllmRuntimeSink.builder().url(vllm.url()).exportDir(tmp.resolve("exports")).loraPathPrefix(PREFIX)
        .baseModelName(BASE).maxLoraRank(8).backoff(Duration.ofMillis(20), Duration.ofMillis(100));
  }

  private static double metric(String scrape, String line) {
    for (String l : scrape.lines().toList()) {
      if (l.startsWith(line + " ")) {
        return Double.parseDouble(l.substring(line.length() + 1));
      }
    }
    throw new AssertionError(line + " not in:\n" + scrape);
  }

  @Test
  void everyVersionIsLoadedUnderItsNameTheAliasMovesAndOldVersionsGo() throws IOException {
    Path exports = tmp.resolve("exports");
    try (VllmEmulator vllm = VllmEmulator.start(exports, PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
      VllmRuntimeSink sink = sink(vllm).keep(2).metrics(metrics).build();
      s.addListener(sink);
      int aliasId = 0;
      for (long v = 1; v <= 3; v++) {
        publish(s, "a", v, BONE4);
        assertEquals(PREFIX + "/a@" + v, vllm.loras().get("a").path(), "the alias after version " + v);
        assertTrue(vllm.loras().containsKey("a@" + v), "a@" + v + " loaded");
        aliasId = v == 1 ? vllm.loras().get("a").id() : aliasId;
      }
      assertEquals(Set.of("a", "a@2", "a@3"), vllm.loras().keySet(), "keep 2: a@1 unloaded");
      for (VllmEmulator.Lora l : vllm.loras().values()) {
        assertEquals("LORA", l.config().path("peft_type").asText());
        assertEquals(BASE, l.config().path("base_model_name_or_path").asText());
        assertEquals(4, l.config().path("r").asInt(), "bone r = 4 is exact at rank 4");
      }
      // the alias was reloaded in place, keeping its LoRA id: never missing for a request
      List<VllmEmulator.Request> aliasLoads = vllm.requests().stream()
          .filter(r -> r.path().equals(VllmRuntimeSink.LOAD) && r.body().path("lora_name").asText().equals("a")).toList();
      assertEquals(3, aliasLoads.size());
      assertTrue(aliasLoads.stream().allMatch(r -> r.body().path("load_inplace").asBoolean()), aliasLoads.toString());
      assertTrue(vllm.requests().stream().noneMatch(r -> r.path().equals(VllmRuntimeSink.UNLOAD)
          && r.body().path("lora_name").asText().equals("a")), "the alias is never unloaded");
      assertEquals(aliasId, vllm.loras().get("a").id());
      // on disk: the folders vLLM may still read, no others
      assertTrue(Files.isDirectory(exports.resolve("a@2")) && Files.isDirectory(exports.resolve("a@3")));
      assertFalse(Files.exists(exports.resolve("a@1")));
      assertEquals(exports.resolve("a@3").toRealPath(), exports.resolve("a").toRealPath());
      String scrape = metrics.scrape();
      assertEquals(6, metric(scrape, "bonestream_subscriber_vllm_loads_total{outcome=\"ok\"}"), scrape);
      assertEquals(0, metric(scrape, "bonestream_subscriber_vllm_loads_total{outcome=\"failed\"}"), scrape);
      assertEquals(1, metric(scrape, "bonestream_subscriber_vllm_unloads_total{outcome=\"ok\"}"), scrape);
      assertEquals(3, metric(scrape, "bonestream_subscriber_vllm_alias_version{adapter=\"a\"}"), scrape);
      assertEquals(Set.of(2L, 3L), sink.loadedVersions("a"));
    }
  }

  @Test
  void onAVllmWithoutLoadInplaceTheAliasIsUnloadedThenLoaded() throws IOException {
    try (VllmEmulator vllm = new VllmEmulator(0, tmp.resolve("exports"), PREFIX, BASE, 8, true, false, null)) {
      AdapterSubscriber s = subscriber();
      s.addListener(sink(vllm).build());
      publish(s, "a", 1, BONE4);
      publish(s, "a", 2, BONE4);
      assertEquals(PREFIX + "/a@2", vllm.loras().get("a").path());
      List<String> aliasRequests = vllm.requests().stream()
          .filter(r -> r.body() != null && r.body().path("lora_name").asText().equals("a"))
          .map(r -> r.path() + (r.body().path("load_inplace").asBoolean() ? "+inplace" : "")).toList();
      assertEquals(List.of(VllmRuntimeSink.LOAD + "+inplace", // v1: not loaded yet, so it loads
          VllmRuntimeSink.LOAD + "+inplace", // v2: "has already been loaded" from a vLLM without load_inplace
          VllmRuntimeSink.UNLOAD, VllmRuntimeSink.LOAD), aliasRequests);
    }
  }

  @Test
  void unloadThenLoadWhenAsked() throws IOException {
    try (VllmEmulator vllm = VllmEmulator.start(tmp.resolve("exports"), PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      s.addListener(sink(vllm).aliasSwitch(VllmRuntimeSink.AliasSwitch.UNLOAD_THEN_LOAD).build());
      publish(s, "a", 1, BONE4);
      publish(s, "a", 2, BONE4);
      assertEquals(PREFIX + "/a@2", vllm.loras().get("a").path());
      assertTrue(vllm.requests().stream().anyMatch(r -> r.path().equals(VllmRuntimeSink.UNLOAD)
          && r.body().path("lora_name").asText().equals("a")));
      assertTrue(vllm.requests().stream().noneMatch(r -> r.body() != null && r.body().path("load_inplace").asBoolean()));
    }
  }

  @Test
  void transientFailuresAreRetried() throws Exception {
    Path exports = tmp.resolve("exports");
    try (VllmEmulator vllm = VllmEmulator.start(exports, PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
      s.addListener(sink(vllm).metrics(metrics).build());
      vllm.failNext(503, 502);
      publish(s, "a", 1, BONE4);
      assertEquals(PREFIX + "/a@1", vllm.loras().get("a").path());
      assertTrue(vllm.loras().containsKey("a@1"));
      assertEquals(2, metric(metrics.scrape(), "bonestream_subscriber_vllm_retries_total"));
    }
    // connection refused: vLLM is not up yet, and comes up while the sink retries
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }
    AdapterSubscriber s = subscriber();
    SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
    s.addListener(VllmRuntimeSink.builder().url("http://127.0.0.1:" + port).exportDir(tmp.resolve("exports2"))
        .loraPathPrefix(PREFIX).baseModelName(BASE).maxLoraRank(8).attempts(8)
        .backoff(Duration.ofMillis(100), Duration.ofMillis(400)).metrics(metrics).build());
    AtomicReference<VllmEmulator> late = new AtomicReference<>();
    Thread starter = new Thread(() -> {
      try {
        Thread.sleep(300);
        late.set(new VllmEmulator(port, tmp.resolve("exports2"), PREFIX, BASE, 8, true, true, null));
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    starter.start();
    try {
      publish(s, "b", 1, BONE4);
      starter.join();
      assertNotNull(late.get());
      assertEquals(PREFIX + "/b@1", late.get().loras().get("b").path());
      assertTrue(metric(metrics.scrape(), "bonestream_subscriber_vllm_retries_total") >= 1);
    } finally {
      starter.join();
      if (late.get() != null) {
        late.get().close();
      }
    }
  }

  @Test
  void aVersionVllmRefusesIsCountedAndTheSubscriberGoesOn() throws IOException {
    // the sink believes vLLM's max rank is 16; the server runs with 8 and refuses the rank-16 LoRA
    try (VllmEmulator vllm = VllmEmulator.start(tmp.resolve("exports"), PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
      s.addListener(sink(vllm).maxLoraRank(16).attempts(2).metrics(metrics).build());
      publish(s, "a", 1, BONE4);
      AdapterConfig bone16 = AdapterConfig.builder().method(AdapterMethod.BONE).r(16).build();
      publish(s, "big", 1, bone16);
      assertEquals(1, s.registry().resolve("big").orElseThrow().version(), "the subscriber still serves it");
      assertFalse(vllm.loras().containsKey("big@1"));
      assertFalse(vllm.loras().containsKey("big"), "no alias for a version vLLM refused");
      publish(s, "a", 2, BONE4);
      assertEquals(PREFIX + "/a@2", vllm.loras().get("a").path(), "the sink goes on after a refusal");
      String scrape = metrics.scrape();
      assertEquals(1, metric(scrape, "bonestream_subscriber_vllm_loads_total{outcome=\"failed\"}"), scrape);
      assertEquals(4, metric(scrape, "bonestream_subscriber_vllm_loads_total{outcome=\"ok\"}"), scrape);
      assertEquals(1, metric(scrape, "bonestream_subscriber_vllm_retries_total"), "a 500 is retried, attempts 2");
    }
  }

  @Test
  void theFolderOfAVersionVllmServesIsNeverRemoved() throws IOException {
    // keep 1: a@2 is refused (vLLM down through every attempt), so the alias still serves a@1,
    // which vLLM may read again (its LoRA cache evicts and reloads from lora_path): a@1 stays on disk
    Path exports = tmp.resolve("exports");
    try (VllmEmulator vllm = VllmEmulator.start(exports, PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      s.addListener(sink(vllm).keep(1).attempts(2).build());
      publish(s, "a", 1, BONE4);
      vllm.failNext(503, 503);
      publish(s, "a", 2, BONE4);
      assertEquals(PREFIX + "/a@1", vllm.loras().get("a").path());
      assertTrue(Files.isRegularFile(exports.resolve("a@1/adapter_model.safetensors")), "a@1 removed under vLLM");
      publish(s, "a", 3, BONE4);
      assertEquals(PREFIX + "/a@3", vllm.loras().get("a").path());
      assertEquals(Set.of("a", "a@3"), vllm.loras().keySet());
      assertFalse(Files.exists(exports.resolve("a@1")), "a@1 removed once nothing serves it");
    }
  }

  @Test
  void vllmWithoutRuntimeUpdatingIsAFailureWithoutRetries() throws IOException {
    try (VllmEmulator vllm = new VllmEmulator(0, tmp.resolve("exports"), PREFIX, BASE, 8, false, true, null)) {
      AdapterSubscriber s = subscriber();
      SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
      s.addListener(sink(vllm).metrics(metrics).build());
      publish(s, "a", 1, BONE4);
      assertEquals(1, metric(metrics.scrape(), "bonestream_subscriber_vllm_loads_total{outcome=\"failed\"}"));
      assertEquals(0, metric(metrics.scrape(), "bonestream_subscriber_vllm_retries_total"));
      assertEquals(1, vllm.requests().stream().filter(r -> r.path().equals(VllmRuntimeSink.LOAD)).count());
    }
  }

  @Test
  void theApiKeyIsSentNeverShownAndItsFileMustBeTheOwnersOnly() throws IOException {
    String key = "sk-vllm-" + Long.toHexString(System.nanoTime());
    Path keyFile = tmp.resolve("vllm.key");
    Files.writeString(keyFile, key + "\n");
    Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-------"));
    try (VllmEmulator vllm = new VllmEmulator(0, tmp.resolve("exports"), PREFIX, BASE, 8, true, true, key)) {
      AdapterSubscriber s = subscriber();
      SubscriberMetrics metrics = SubscriberMetrics.create(s.registry());
      VllmRuntimeSink sink = sink(vllm).apiKeyFile(keyFile).metrics(metrics).build();
      s.addListener(sink);
      publish(s, "a", 1, BONE4);
      assertEquals(PREFIX + "/a@1", vllm.loras().get("a").path());
      assertTrue(vllm.requests().stream().allMatch(r -> ("Bearer " + key).equals(r.authorization())),
          vllm.requests().toString());
      assertFalse(sink.toString().contains(key), sink.toString());

      AdapterSubscriber other = subscriber();
      SubscriberMetrics otherMetrics = SubscriberMetrics.create(other.registry());
      other.addListener(VllmRuntimeSink.builder().url(vllm.url()).exportDir(tmp.resolve("exports"))
          .loraPathPrefix(PREFIX).baseModelName(BASE).maxLoraRank(8).apiKey("wrong-key").metrics(otherMetrics).build());
      int before = vllm.requests().size();
      publish(other, "c", 1, BONE4);
      assertFalse(vllm.loras().containsKey("c@1"));
      assertEquals(1, metric(otherMetrics.scrape(), "bonestream_subscriber_vllm_loads_total{outcome=\"failed\"}"));
      assertEquals(0, metric(otherMetrics.scrape(), "bonestream_subscriber_vllm_retries_total"), "a 401 is not retried");
      assertTrue(vllm.requests().size() - before <= 2, "the models listing and one load");
    }
    Files.setPosixFilePermissions(keyFile, PosixFilePermissions.fromString("rw-r--r--"));
    BonestreamException e = assertThrows(BonestreamException.class, () -> VllmRuntimeSink.builder()
        .url("http://127.0.0.1:1").exportDir(tmp.resolve("exports")).apiKeyFile(keyFile).build());
    assertTrue(e.getMessage().contains("chmod 600") && !e.getMessage().contains(key), e.getMessage());
  }

  @Test
  void aRestartedSinkUnloadsTheVersionsLoadedBefore() throws IOException {
    try (VllmEmulator vllm = VllmEmulator.start(tmp.resolve("exports"), PREFIX, BASE, 8)) {
      AdapterSubscriber s = subscriber();
      s.addListener(sink(vllm).keep(3).build());
      for (long v = 1; v <= 3; v++) {
        publish(s, "a", v, BONE4);
      }
      // a new subscriber process: keep 1 now; it knows nothing of a@1..a@3 but what vLLM lists
      AdapterSubscriber again = subscriber();
      again.addListener(sink(vllm).keep(1).build());
      publish(again, "a", 4, BONE4);
      assertEquals(Set.of("a", "a@4"), vllm.loras().keySet());
      assertEquals(PREFIX + "/a@4", vllm.loras().get("a").path());
    }
  }

  @Test
  void settingsAreCheckedWithClearErrors() {
    Path dir = tmp.resolve("exports");
    Map<String, java.util.function.Supplier<VllmRuntimeSink>> bad = new java.util.LinkedHashMap<>();
    bad.put("is not an http:// or https:// URL", () -> VllmRuntimeSink.builder().url("ftp://h/").exportDir(dir).build());
    bad.put("give vLLM's URL", () -> VllmRuntimeSink.builder().exportDir(dir).build());
    bad.put("unencrypted", () -> VllmRuntimeSink.builder().url("http://vllm.inference.svc:8000").exportDir(dir).build());
    bad.put("ends in /v1", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000/v1").exportDir(dir).build());
    bad.put("[1, 8, 16, 32, 64, 128, 256, 320, 512]", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000")
        .exportDir(dir).maxLoraRank(24).build());
    bad.put("above vLLM's max LoRA rank", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000").exportDir(dir)
        .maxLoraRank(8).batLoraRank(16).build());
    bad.put("absolute path", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000").exportDir(dir)
        .loraPathPrefix("adapters").build());
    bad.put("keep must be at least 1", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000").exportDir(dir)
        .keep(0).build());
    bad.put("request timeout must be positive", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000")
        .exportDir(dir).requestTimeout(Duration.ZERO).build());
    bad.put("export folder", () -> VllmRuntimeSink.builder().url("http://127.0.0.1:8000").build());
    bad.forEach((fragment, build) -> {
      BonestreamException e = assertThrows(BonestreamException.class, build::get, fragment);
      assertTrue(e.getMessage().contains(fragment), "'" + fragment + "' missing from: " + e.getMessage());
    });
    // loopback needs no TLS; another host does, unless plain http is allowed explicitly
    for (String ok : List.of("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000",
        "https://vllm.example:8443")) {
      VllmRuntimeSink.builder().url(ok).exportDir(dir).build();
    }
    VllmRuntimeSink.builder().url("http://vllm.inference.svc:8000").allowPlainHttp(true).exportDir(dir).build();
  }
}
