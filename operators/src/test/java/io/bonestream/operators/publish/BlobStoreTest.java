package io.bonestream.operators.publish;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.schemas.ClaimCheck;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Claim-check blobs on a real file system: write, read back checked, and orphan removal. */
class BlobStoreTest {
  @TempDir Path dir;

  private static PeftExport.AdapterFiles files(int seed) {
    return new PeftExport.AdapterFiles("{\"r\": " + seed + "}", new byte[] {1, 2, (byte) seed}, 0, 0);
  }

  @Test
  void readsBackWhatItWroteAndRefusesChangedBytes() throws Exception {
    String root = dir.toUri().toString();
    ClaimCheck c = BlobStore.write(root, "a", 3, files(7));
    BlobStore.AdapterBlob blob = BlobStore.read(c);
    assertArrayEquals(new byte[] {1, 2, 7}, blob.weights());
    assertEquals("{\"r\": 7}", blob.configJson());
    Files.write(dir.resolve("a/3/" + PeftFiles.ADAPTER_WEIGHTS), new byte[] {1, 2, 8});
    assertThrows(IllegalStateException.class, () -> BlobStore.read(c));
  }

  @Test
  void removesOnlyVersionsAboveTheCurrentOne() throws Exception {
    String root = dir.toUri().toString();
    for (int v = 1; v <= 5; v++) {
      BlobStore.write(root, "a", v, files(v));
    }
    BlobStore.write(root, "a2", 9, files(9));
    Files.createDirectories(dir.resolve("a/not-a-version"));
    List<String> removed = BlobStore.removeVersionsAbove(root, "a", 3);
    assertEquals(2, removed.size(), removed.toString());
    assertTrue(Files.exists(dir.resolve("a/3")) && Files.exists(dir.resolve("a/1")));
    assertTrue(!Files.exists(dir.resolve("a/4")) && !Files.exists(dir.resolve("a/5")));
    assertTrue(Files.exists(dir.resolve("a/not-a-version")) && Files.exists(dir.resolve("a2/9")));
    assertEquals(List.of(), BlobStore.removeVersionsAbove(root, "never-published", 0));
  }
}
