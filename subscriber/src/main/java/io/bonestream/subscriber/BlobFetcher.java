package io.bonestream.subscriber;

import java.io.IOException;
import java.net.URI;

/**
 * Reads claim-check blobs for one URI scheme ({@code file} is built in; register others, e.g.
 * {@code s3}, on the subscriber's builder).
 */
@FunctionalInterface
public interface BlobFetcher {
  /** The bytes at {@code uri}; an IOException means the blob is missing or unreadable. */
  byte[] fetch(URI uri) throws IOException;

  /** The built-in fetcher of {@code file:} URIs. */
  BlobFetcher FILE = uri -> java.nio.file.Files.readAllBytes(java.nio.file.Path.of(uri));
}
