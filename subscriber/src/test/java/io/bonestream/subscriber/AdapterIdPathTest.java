package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter id becomes a folder name in a PEFT export: a manifest whose id is not a valid one
 * ({@code ../..}, a slash) is refused before anything is built from it, even where unsigned
 * manifests are allowed, and the export sink builds no path from such an id.
 */
class AdapterIdPathTest {
  @TempDir Path tmp;

  private static AdapterSnapshot unsigned(String id) {
    AdapterConfig config = AdapterConfig.builder().r(4).build();
    return TestManifests.inline(id, 1, config, TestModels.files(config, 1));
  }

  @Test
  void anInvalidAdapterIdIsRefusedAndNeverBecomesAPath() throws Exception {
    Path exports = tmp.resolve("exports");
    Files.createDirectories(exports);
    AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE)
        .allowUnsigned(true).build();
    PeftExportSink sink = PeftExportSink.builder(exports).build();
    s.addListener(sink);
    List<AdapterUpdate> updates = new ArrayList<>();
    s.addListener(updates::add);
    long offset = 0;
    for (String id : List.of("../../escaped", "a/b", "..", "ok")) {
      AdapterSnapshot m = unsigned(id);
      s.apply(new ConsumerRecord<>("bonestream.adapters", 0, offset++, id.getBytes(StandardCharsets.UTF_8),
          AdapterSnapshots.encode(m)));
    }
    assertEquals(4, updates.size(), updates.toString());
    for (int i = 0; i < 3; i++) {
      assertTrue(updates.get(i) instanceof AdapterUpdate.Refused r && r.reason() == RefusalReason.INVALID_MANIFEST,
          updates.get(i).toString());
    }
    assertTrue(updates.get(3) instanceof AdapterUpdate.Accepted, updates.get(3).toString());
    // only the valid adapter was exported, inside the export folder; nothing escaped it
    try (var files = Files.list(exports)) {
      assertTrue(files.map(p -> p.getFileName().toString()).allMatch(n -> n.startsWith("ok")), "exported");
    }
    assertTrue(Files.notExists(tmp.resolve("escaped")) && Files.notExists(tmp.getParent().resolve("escaped")));
    assertThrows(IllegalArgumentException.class, () -> sink.folder("../x", 1));
    assertThrows(IllegalArgumentException.class, () -> sink.alias("a/b"));
  }
}
