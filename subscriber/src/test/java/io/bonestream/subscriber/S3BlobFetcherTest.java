package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The fetcher's settings, credentials and the failures that need no server. */
class S3BlobFetcherTest {
  static final S3Credentials KEY = S3Credentials.of("AKIDEXAMPLE", "not-a-real-secret");

  static String error(Runnable r) {
    return assertThrows(BonestreamException.class, r::run).getMessage();
  }

  @Test
  void defaultsFollowTheEndpoint() {
    S3BlobFetcher aws = S3BlobFetcher.builder().region("eu-west-1").credentials(KEY).build();
    assertEquals(URI.create("https://s3.eu-west-1.amazonaws.com"), aws.endpoint());
    assertFalse(aws.pathStyle(), "AWS: virtual-host");
    assertEquals("us-east-1", S3BlobFetcher.builder().credentials(KEY).build().region());
    S3BlobFetcher minio = S3BlobFetcher.builder().endpoint("http://minio.minio.svc:9000/").credentials(KEY).build();
    assertEquals(URI.create("http://minio.minio.svc:9000"), minio.endpoint());
    assertTrue(minio.pathStyle(), "an endpoint: path-style");
    assertFalse(S3BlobFetcher.builder().endpoint("http://minio:9000").pathStyle(false).credentials(KEY).build()
        .pathStyle());
  }

  @Test
  void badSettingsAreOneClearError() {
    assertTrue(error(() -> S3BlobFetcher.builder().endpoint("ftp://host")).contains("not an http:// or https:// URL"));
    assertTrue(error(() -> S3BlobFetcher.builder().endpoint("minio:9000")).contains("not an http:// or https://"));
    assertTrue(error(() -> S3BlobFetcher.builder().endpoint("http://host:9000/bucket")).contains("has a path"));
    assertTrue(error(() -> S3BlobFetcher.builder().endpoint("http://a b")).contains("is not a URL"));
    assertTrue(error(() -> S3BlobFetcher.builder().region("us east")).contains("not a region name"));
    assertTrue(error(() -> S3BlobFetcher.builder().region("")).contains("not a region name"));
    assertTrue(error(() -> S3BlobFetcher.builder().requestTimeout(Duration.ZERO)).contains("must be positive"));
    assertTrue(error(() -> S3BlobFetcher.builder().maxObjectSize(0)).contains("not in 1.."));
    assertTrue(error(() -> S3BlobFetcher.builder().retries(-1)).contains("not in 0..10"));
    assertTrue(error(() -> S3BlobFetcher.builder().build()).contains("needs credentials"));
  }

  @Test
  void credentialsFromTheEnvironment() {
    S3Credentials c = S3Credentials.fromEnvironment(Map.of("AWS_ACCESS_KEY_ID", "id", "AWS_SECRET_ACCESS_KEY",
        "shh-secret", "AWS_SESSION_TOKEN", "tok-secret"));
    assertEquals("id", c.accessKeyId());
    assertEquals("shh-secret", c.secretAccessKey());
    assertEquals("tok-secret", c.sessionToken());
    assertEquals(null, S3Credentials.fromEnvironment(Map.of("AWS_ACCESS_KEY_ID", "id", "AWS_SECRET_ACCESS_KEY",
        "s", "AWS_SESSION_TOKEN", " ")).sessionToken(), "a blank token is none");
    assertEquals("S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        error(() -> S3Credentials.fromEnvironment(Map.of())));
    assertEquals("S3 credentials: AWS_SECRET_ACCESS_KEY is not set",
        error(() -> S3Credentials.fromEnvironment(Map.of("AWS_ACCESS_KEY_ID", "id"))));
    assertEquals("S3 credentials: AWS_ACCESS_KEY_ID is not set",
        error(() -> S3Credentials.fromEnvironment(Map.of("AWS_SECRET_ACCESS_KEY", "s"))));
  }

  @Test
  void noCredentialInAnyToString() {
    S3Credentials c = S3Credentials.of("AKIDEXAMPLE", "shh-secret", "tok-secret");
    S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:9").credentials(c).build();
    for (String s : new String[] {c.toString(), f.toString()}) {
      assertFalse(s.contains("AKIDEXAMPLE") || s.contains("shh-secret") || s.contains("tok-secret"), s);
    }
    assertEquals("S3BlobFetcher[endpoint http://127.0.0.1:9, region us-east-1, path-style]", f.toString());
  }

  @Test
  void uriMistakesAreFetchErrors() {
    S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:9").credentials(KEY).build();
    for (String[] c : new String[][] {
        {"gs://bucket/key", "not an s3, s3a or s3p URI"},
        {"s3:///key", "names no bucket"},
        {"s3://user@bucket/key", "names no bucket"},
        {"s3://bucket", "names no object key"},
        {"s3://bucket/", "names no object key"},
        {"s3://bucket/key?versionId=1", "names no object key"}}) {
      BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create(c[0])), c[0]);
      assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
    }
  }

  @Test
  void aStoreThatDoesNotAnswerTimesOut() throws Exception {
    try (ServerSocket silent = new ServerSocket(0)) { // the connection is accepted, nothing is ever answered
      S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:" + silent.getLocalPort())
          .credentials(KEY).retries(0).requestTimeout(Duration.ofMillis(300)).build();
      BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create("s3://b/k")));
      assertEquals("no answer from endpoint http://127.0.0.1:" + silent.getLocalPort()
          + ", region us-east-1, path-style within 300 ms", e.getMessage());
    }
  }

  /** A store that answers 200 with {@code head}, then sends {@code body} a byte at a time, {@code pause} apart. */
  private static Thread store(ServerSocket server, String head, byte[] body, long pauseMillis) {
    Thread t = new Thread(() -> {
      try (java.net.Socket s = server.accept()) {
        s.getInputStream().read(new byte[8192]); // the request
        var out = s.getOutputStream();
        out.write(head.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        out.flush();
        for (byte b : body) {
          out.write(b);
          out.flush();
          if (pauseMillis > 0) {
            Thread.sleep(pauseMillis);
          }
        }
      } catch (Exception e) {
        // the client hung up: expected
      }
    });
    t.setDaemon(true);
    t.start();
    return t;
  }

  @Test
  void aStoreThatSendsTheBodySlowlyIsCutAtTheTimeout() throws Exception {
    try (ServerSocket server = new ServerSocket(0)) {
      store(server, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", new byte[1000], 100);
      S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:" + server.getLocalPort())
          .credentials(KEY).retries(0).requestTimeout(Duration.ofMillis(700)).build();
      long t0 = System.nanoTime();
      BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create("s3://b/k"), 1000));
      assertTrue(e.getMessage().contains("was not read within 700 ms"), e.getMessage());
      assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the slow body held the fetch");
    }
  }

  @Test
  void aStoreThatSendsMoreThanAnnouncedIsCutAtTheSize() throws Exception {
    try (ServerSocket server = new ServerSocket(0)) { // no Content-Length: the body ends when the connection does
      store(server, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", new byte[64 * 1024], 0);
      S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:" + server.getLocalPort())
          .credentials(KEY).retries(0).build();
      BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create("s3://b/k"), 1024));
      assertTrue(e.getMessage().contains("more than the 1024 bytes expected"), e.getMessage());
    }
  }

  @Test
  void aStoreThatIsNotThereIsAFetchErrorAfterTheRetries() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    S3BlobFetcher f = S3BlobFetcher.builder().endpoint("http://127.0.0.1:" + port).credentials(KEY).retries(1)
        .connectTimeout(Duration.ofSeconds(2)).build();
    long t0 = System.nanoTime();
    BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create("s3://b/k")));
    assertTrue(e.getMessage().startsWith("cannot connect to endpoint http://127.0.0.1:" + port), e.getMessage());
    assertTrue(System.nanoTime() - t0 >= 250_000_000L, "no pause before the second try");
  }
}
