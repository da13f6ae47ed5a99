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

  /**
   * The bytes at {@code uri}, refused when there are more than {@code maxBytes} (the subscriber
   * passes the size its manifest announces). Fetchers should stop reading at the bound and read
   * within a time bound ({@link S3BlobFetcher} and the {@code file:} fetcher do); this default
   * reads everything first.
   */
  default byte[] fetch(URI uri, long maxBytes) throws IOException {
    byte[] b = fetch(uri);
    if (b.length > maxBytes) {
      throw new BlobFetchException("the blob has " + b.length + " bytes, more than the " + maxBytes + " expected");
    }
    return b;
  }

  /** The built-in fetcher of {@code file:} URIs: regular files only, bounded in size and time. */
  BlobFetcher FILE = new FileBlobFetcher();
}
