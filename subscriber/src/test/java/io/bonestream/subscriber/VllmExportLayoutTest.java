package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The export's vLLM layout resolves as vLLM's filesystem resolver would resolve it
 * ({@link VllmEmulator#resolve}, written from its source): every version under its immutable name,
 * the alias at the newest; and the folders hold what vLLM loads.
 */
@Timeout(60)
class VllmExportLayoutTest {
  @TempDir Path tmp;

  private final List<AdapterUpdate> heard = new ArrayList<>();

  private AdapterSubscriber subscriber(AdapterListener sink) {
    AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE)
        .allowUnsigned(true).build();
    s.addListener(sink);
    s.addListener(heard::add);
    return s;
  }

  private long offset;

  private void publish(AdapterSubscriber s, String id, long version, AdapterConfig config) {
    s.apply(TestManifests.record(TestManifests.inline(id, version, config, TestModels.files(config, version)),
        offset++));
  }

  @Test
  void everyVersionResolvesUnderItsNameAndTheAliasAtTheNewest() throws IOException {
    Path dir = tmp.resolve("cache");
    PeftExportSink sink = PeftExportSink.builder(dir).keep(3).vllm("served-base", 8).build();
    AdapterSubscriber s = subscriber(sink);
    AdapterConfig bone = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    AdapterConfig bat = AdapterConfig.builder().method(AdapterMethod.BAT).r(4).build();
    publish(s, "a", 1, bone);
    publish(s, "a", 2, bone);
    publish(s, "t", 1, bat);
    for (String name : List.of("a@1", "a@2", "t@1")) {
      Path p = VllmEmulator.resolve(dir, "served-base", name);
      assertEquals(dir.resolve(name).toRealPath(), p, name);
      JsonNode config = Json.readTree(p.resolve(PeftFiles.ADAPTER_CONFIG));
      assertTrue(config.path("r").asInt() <= 8, name + ": rank " + config.path("r"));
      assertEquals(null, VllmEmulator.weightsProblem(SafeTensorsReader.readHeader(p.resolve(PeftFiles.ADAPTER_WEIGHTS)),
          config), name);
      // the adapter as published stays beside it
      assertEquals(((AdapterUpdate.Accepted) heard.stream().filter(u -> (u.adapterId() + "@" + u.version()).equals(name))
          .findFirst().orElseThrow()).adapter().adapterConfigJson(),
          Files.readString(p.resolve(PeftExportSink.PUBLISHED).resolve(PeftFiles.ADAPTER_CONFIG)));
    }
    assertEquals(4, Json.readTree(dir.resolve("a@1").resolve(PeftFiles.ADAPTER_CONFIG)).path("r").asInt(),
        "bone is exact at its own rank");
    assertEquals(8, Json.readTree(dir.resolve("t@1").resolve(PeftFiles.ADAPTER_CONFIG)).path("r").asInt(),
        "bat: the max rank");
    assertEquals(dir.resolve("a@2").toRealPath(), VllmEmulator.resolve(dir, "served-base", "a"), "the alias");
    assertEquals(dir.resolve("t@1").toRealPath(), VllmEmulator.resolve(dir, "served-base", "t"));
    // another base model name, a name out of the folder, a version never written: nothing
    assertNull(VllmEmulator.resolve(dir, "another-base", "a@1"));
    Path outside = tmp.resolve("outside");
    Files.createDirectories(outside);
    Files.copy(dir.resolve("a@1").resolve(PeftFiles.ADAPTER_CONFIG), outside.resolve(PeftFiles.ADAPTER_CONFIG));
    assertNull(VllmEmulator.resolve(dir, "served-base", "../outside"));
    assertNull(VllmEmulator.resolve(dir, "served-base", "a@3"));
    assertNull(VllmEmulator.resolve(dir, "served-base", dir.resolve("a@1").toString()));
  }

  @Test
  void theBaseNameDefaultsToTheModelFoldersName() throws IOException {
    Path dir = tmp.resolve("cache");
    AdapterSubscriber s = subscriber(PeftExportSink.builder(dir).vllm(null, 16).build());
    publish(s, "a", 1, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build());
    assertEquals(dir.resolve("a@1").toRealPath(), VllmEmulator.resolve(dir, TestModels.stories260K().getFileName()
        .toString(), "a@1"));
  }

  @Test
  void theDefaultLayoutIsNotWhatTheResolverLoadsUnderAVersionsName() throws IOException {
    // why the vLLM layout exists: by default <adapter>@<version>/ is the MiSS adapter, which vLLM skips
    Path dir = tmp.resolve("cache");
    AdapterSubscriber s = subscriber(PeftExportSink.builder(dir).build());
    publish(s, "a", 1, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build());
    String base = TestModels.stories260K().getFileName().toString();
    assertNull(VllmEmulator.resolve(dir, base, "a@1"));
    assertEquals(dir.resolve("a@1/lora").toRealPath(), VllmEmulator.resolve(dir, base, "a"));
  }

  @Test
  void aBoneAdapterAboveTheMaxRankIsRefusedSayingSo() {
    PeftExportSink sink = PeftExportSink.builder(tmp.resolve("cache")).vllm("b", 8).build();
    List<Throwable> failures = new ArrayList<>();
    AdapterSubscriber s = subscriber(u -> {
      try {
        sink.onUpdate(u);
      } catch (RuntimeException e) {
        failures.add(e);
      }
    });
    publish(s, "big", 1, AdapterConfig.builder().method(AdapterMethod.BONE).r(16).build());
    assertEquals(1, failures.size());
    assertTrue(failures.get(0).getMessage().contains("rank 16, above vLLM's max LoRA rank 8"),
        failures.get(0).getMessage());
    assertTrue(Files.notExists(tmp.resolve("cache/big@1")));
    assertTrue(assertThrows(BonestreamException.class, () -> PeftExportSink.builder(tmp.resolve("x")).vllm("b", 12)
        .build()).getMessage().contains("[1, 8, 16, 32, 64, 128, 256, 320, 512]"));
    assertTrue(assertThrows(BonestreamException.class, () -> PeftExportSink.builder(tmp.resolve("x")).vllm("b", 16)
        .batAsMergedModel().build()).getMessage().contains("merged"));
  }
}
