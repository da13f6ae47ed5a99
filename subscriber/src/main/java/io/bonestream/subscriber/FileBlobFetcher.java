package io.bonestream.subscriber;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Reads {@code file:} claim checks: regular files only (a FIFO or a device would block or never
 * end), at most the size asked for, within a time bound (a hung network file system).
 */
final class FileBlobFetcher implements BlobFetcher {
  static final Duration TIMEOUT = Duration.ofSeconds(60);

  @Override
  public byte[] fetch(URI uri) throws IOException {
    return fetch(uri, Integer.MAX_VALUE - 8);
  }

  @Override
  public byte[] fetch(URI uri, long maxBytes) throws IOException {
    Path p;
    try {
      p = Path.of(uri);
    } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
      throw new BlobFetchException("not a file URI: " + e.getMessage());
    }
    if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(p)) {
      throw new BlobFetchException(Files.exists(p) ? "not a regular file" : "no such file");
    }
    long size = Files.size(p);
    if (size > maxBytes) {
      throw new BlobFetchException("the file has " + size + " bytes, more than the " + maxBytes + " expected");
    }
    try (InputStream in = Files.newInputStream(p)) {
      return BoundedRead.read(in, maxBytes, TIMEOUT, "the file");
    }
  }
}
