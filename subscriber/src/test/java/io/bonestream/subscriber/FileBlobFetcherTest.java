package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file: claim-check fetcher reads regular files within the size its caller allows. */
class FileBlobFetcherTest {
  @TempDir Path tmp;

  @Test
  void readsARegularFile() throws Exception {
    Path f = tmp.resolve("blob");
    Files.write(f, new byte[] {1, 2, 3});
    assertArrayEquals(new byte[] {1, 2, 3}, BlobFetcher.FILE.fetch(f.toUri(), 3));
  }

  @Test
  void aFileOverTheAnnouncedSizeIsRefusedUnread() throws Exception {
    Path f = tmp.resolve("big");
    Files.write(f, new byte[4096]);
    BlobFetchException e = assertThrows(BlobFetchException.class, () -> BlobFetcher.FILE.fetch(f.toUri(), 4095));
    assertEquals("the file has 4096 bytes, more than the 4095 expected", e.getMessage());
  }

  @Test
  void aFifoOrAFolderIsRefusedWithoutBlocking() throws Exception {
    Path fifo = tmp.resolve("fifo");
    Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
    assertEquals(0, p.waitFor());
    // opening a FIFO for reading blocks until a writer comes: the fetcher must not open it
    BlobFetchException e = assertTimeoutPreemptively(Duration.ofSeconds(10),
        () -> assertThrows(BlobFetchException.class, () -> BlobFetcher.FILE.fetch(fifo.toUri(), 1 << 20)));
    assertEquals("not a regular file", e.getMessage());
    assertEquals("not a regular file", assertThrows(BlobFetchException.class,
        () -> BlobFetcher.FILE.fetch(tmp.toUri(), 1 << 20)).getMessage());
    assertEquals("no such file", assertThrows(BlobFetchException.class,
        () -> BlobFetcher.FILE.fetch(tmp.resolve("gone").toUri(), 1 << 20)).getMessage());
  }
}
