package io.bonestream.subscriber;

import java.io.IOException;
import java.net.URI;

/**
 * Reads claim-check blobs for one URI scheme ({@code file} is built in; register others on the
 * subscriber's builder: {@link S3BlobFetcher} reads {@code s3://}, {@code s3a://} and {@code s3p://}).
 * A failure is an IOException, ideally a {@link BlobFetchException} whose message says what went
 * wrong; the subscriber refuses the version as {@link RefusalReason#MISSING_BLOB}.
 */
@FunctionalInterface
public interface BlobFetcher {
  /** The bytes at {@code uri}; an IOException means the blob is missing or unreadable. */
  byte[] fetch(URI uri) throws IOException;

  /** The built-in fetcher of {@code file:} URIs. */
  BlobFetcher FILE = uri -> java.nio.file.Files.readAllBytes(java.nio.file.Path.of(uri));
}
