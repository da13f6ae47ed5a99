package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * AWS Signature Version 4 against the values AWS publishes: the "Example: GET Object" of the Amazon
 * S3 API Reference, "Signature Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk (AWS Signature Version 4)",
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (the first 10 bytes
 * of examplebucket/test.txt, us-east-1, 20130524T000000Z, with AWS's example access key). The
 * expected canonical request, string to sign, signature and Authorization header below are that
 * page's, copied, not computed here.
 */
class SigV4Test {
  static final String ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
  static final String SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  static final Instant TIME = Instant.parse("2013-05-24T00:00:00Z");

  // AWS's page, "Example: GET Object", 1. StringToSign, a. CanonicalRequest
  static final String CANONICAL_REQUEST = String.join("\n",
      "GET",
      "/test.txt",
      "",
      "host:examplebucket.s3.amazonaws.com",
      "range:bytes=0-9",
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "x-amz-date:20130524T000000Z",
      "",
      "host;range;x-amz-content-sha256;x-amz-date",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // b. StringToSign: its last line is the SHA-256 of the canonical request
  static final String STRING_TO_SIGN = String.join("\n",
      "AWS4-HMAC-SHA256",
      "20130524T000000Z",
      "20130524/us-east-1/s3/aws4_request",
      "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  // 3. Signature, 4. Authorization header
  static final String SIGNATURE = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
  static final String AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
      + "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=" + SIGNATURE;

  @Test
  void theSignerReproducesAwssGetObjectExample() {
    SigV4.Signed s = SigV4.sign("GET", "/test.txt", "", Map.of(
        "Host", "examplebucket.s3.amazonaws.com",
        "Range", "bytes=0-9",
        "x-amz-content-sha256", SigV4.EMPTY_SHA256,
        "x-amz-date", "20130524T000000Z"), SigV4.EMPTY_SHA256, ACCESS_KEY_ID, SECRET, "us-east-1", "s3", TIME);
    assertEquals(CANONICAL_REQUEST, s.canonicalRequest());
    assertEquals(STRING_TO_SIGN, s.stringToSign());
    assertEquals(SIGNATURE, s.signature());
    assertEquals(AUTHORIZATION, s.authorization());
  }

  /** The fetcher's own request for s3://examplebucket/test.txt, virtual-host style, signs the same. */
  @Test
  void theFetchersRequestCarriesAwssSignature() throws Exception {
    S3BlobFetcher f = S3BlobFetcher.builder().endpoint("https://s3.amazonaws.com").pathStyle(false)
        .region("us-east-1").credentials(S3Credentials.of(ACCESS_KEY_ID, SECRET))
        .clock(Clock.fixed(TIME, ZoneOffset.UTC)).build();
    for (String scheme : S3BlobFetcher.SCHEMES) {
      HttpRequest r = f.request(URI.create(scheme + "://examplebucket/test.txt"), "bytes=0-9");
      assertEquals(URI.create("https://examplebucket.s3.amazonaws.com/test.txt"), r.uri());
      assertEquals(AUTHORIZATION, r.headers().firstValue("Authorization").orElseThrow());
      assertEquals("20130524T000000Z", r.headers().firstValue("x-amz-date").orElseThrow());
      assertEquals(SigV4.EMPTY_SHA256, r.headers().firstValue("x-amz-content-sha256").orElseThrow());
      assertEquals("bytes=0-9", r.headers().firstValue("range").orElseThrow());
    }
  }

  @Test
  void anyChangeChangesTheSignature() throws Exception {
    S3BlobFetcher.Builder b = S3BlobFetcher.builder().endpoint("https://s3.amazonaws.com").pathStyle(false)
        .credentials(S3Credentials.of(ACCESS_KEY_ID, SECRET)).clock(Clock.fixed(TIME, ZoneOffset.UTC));
    URI uri = URI.create("s3://examplebucket/test.txt");
    assertNotEquals(AUTHORIZATION, b.build().request(uri, "bytes=0-10").headers().firstValue("Authorization").get());
    assertNotEquals(AUTHORIZATION, b.region("eu-west-1").build().request(uri, "bytes=0-9").headers()
        .firstValue("Authorization").get());
    b.region("us-east-1");
    assertNotEquals(AUTHORIZATION, b.credentials(S3Credentials.of(ACCESS_KEY_ID, SECRET + "x")).build()
        .request(uri, "bytes=0-9").headers().firstValue("Authorization").get());
    assertNotEquals(AUTHORIZATION, b.credentials(S3Credentials.of(ACCESS_KEY_ID, SECRET)).clock(
        Clock.fixed(TIME.plusSeconds(1), ZoneOffset.UTC)).build().request(uri, "bytes=0-9").headers()
        .firstValue("Authorization").get());
  }

  /** A session token is sent and signed (x-amz-security-token, between x-amz-date and the end). */
  @Test
  void aSessionTokenIsSigned() throws Exception {
    HttpRequest r = S3BlobFetcher.builder().endpoint("http://127.0.0.1:9000")
        .credentials(S3Credentials.of(ACCESS_KEY_ID, SECRET, "token/1+2="))
        .clock(Clock.fixed(TIME, ZoneOffset.UTC)).build().request(new URI("s3a", "bucket", "/a b/ü.bin", null), null);
    assertEquals(URI.create("http://127.0.0.1:9000/bucket/a%20b/%C3%BC.bin"), r.uri(), "path-style, encoded");
    assertEquals("token/1+2=", r.headers().firstValue("x-amz-security-token").orElseThrow());
    String auth = r.headers().firstValue("Authorization").orElseThrow();
    assertEquals(true, auth.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
        auth);
  }

  @Test
  void pathsAreEncodedAsS3Wants() {
    assertEquals("/b/a%20b/%C3%BC~x-y_z.1/%2B%3D%25", SigV4.encodePath("/b/a b/ü~x-y_z.1/+=%"));
  }
}
