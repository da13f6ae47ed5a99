package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.subscriber.BlobFetchException;
import io.bonestream.subscriber.BlobFetcher;
import io.bonestream.subscriber.S3BlobFetcher;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** serve's --s3-* options and the S3 credentials of its environment make the fetcher of S3 claim checks. */
class ServeS3OptionsTest {
  static final Map<String, String> CREDENTIALS = Map.of("AWS_ACCESS_KEY_ID", "id", "AWS_SECRET_ACCESS_KEY", "secret");

  static ServeCommand parse(String... s3Options) {
    ServeCommand c = new ServeCommand();
    String[] base = {"--model", "m", "--bootstrap", "b:9092", "--allow-unsigned"};
    new CommandLine(c).parseArgs(java.util.stream.Stream.concat(java.util.stream.Stream.of(base),
        java.util.stream.Stream.of(s3Options)).toArray(String[]::new));
    return c;
  }

  @Test
  void anEndpointMeansPathStyleUnlessVirtualHostIsAsked() {
    S3BlobFetcher f = (S3BlobFetcher) parse("--s3-endpoint", "http://minio.minio.svc:9000", "--s3-region", "eu-1")
        .s3Fetcher(CREDENTIALS);
    assertEquals(URI.create("http://minio.minio.svc:9000"), f.endpoint());
    assertEquals("eu-1", f.region());
    assertTrue(f.pathStyle());
    assertFalse(((S3BlobFetcher) parse("--s3-endpoint", "http://minio:9000", "--s3-virtual-host")
        .s3Fetcher(CREDENTIALS)).pathStyle());
  }

  @Test
  void withoutAnEndpointItIsAwsVirtualHost() {
    S3BlobFetcher f = (S3BlobFetcher) parse("--s3-region", "eu-west-1").s3Fetcher(CREDENTIALS);
    assertEquals(URI.create("https://s3.eu-west-1.amazonaws.com"), f.endpoint());
    assertFalse(f.pathStyle());
    assertTrue(((S3BlobFetcher) parse("--s3-path-style").s3Fetcher(CREDENTIALS)).pathStyle());
  }

  @Test
  void noCredentialsMeansEveryS3ClaimCheckIsRefusedSayingSo() {
    BlobFetcher f = parse().s3Fetcher(Map.of());
    BlobFetchException e = assertThrows(BlobFetchException.class, () -> f.fetch(URI.create("s3://b/k")));
    assertTrue(e.getMessage().contains("no S3 credentials") && e.getMessage().contains("AWS_ACCESS_KEY_ID"),
        e.getMessage());
    assertTrue(assertThrows(BonestreamException.class, () -> parse("--s3-endpoint", "http://minio:9000")
        .s3Fetcher(Map.of())).getMessage().contains("--s3-* options need S3 credentials"));
    assertEquals("S3 credentials: AWS_SECRET_ACCESS_KEY is not set", assertThrows(BonestreamException.class,
        () -> parse().s3Fetcher(Map.of("AWS_ACCESS_KEY_ID", "id"))).getMessage());
  }
}
