package io.bonestream.subscriber;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.SortedMap;
import java.util.StringJoiner;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * AWS Signature Version 4 of a request with the signature in the {@code Authorization} header, as
 * S3 documents it ("Signature Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk"): the canonical request, the string to sign, the signing key derived from the
 * secret, date, region and service, and the signature. JDK only (HmacSHA256, SHA-256).
 */
final class SigV4 {
  static final String ALGORITHM = "AWS4-HMAC-SHA256";
  /** The SHA-256 of an empty payload, hex: what a GET sends as x-amz-content-sha256. */
  static final String EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

  private static final DateTimeFormatter STAMP =
      DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC);

  private SigV4() {}

  /** The parts of one signature, each as the documentation shows it. */
  record Signed(String canonicalRequest, String stringToSign, String signature, String signedHeaders,
      String authorization) {}

  /** {@code 20130524T000000Z}: the x-amz-date of {@code t}. */
  static String amzDate(Instant t) {
    return STAMP.format(t);
  }

  /**
   * Signs a request.
   *
   * @param canonicalUri the URI-encoded absolute path, as sent
   * @param canonicalQuery the canonical query string (empty for none)
   * @param headers the headers to sign, names in any case; must include host and x-amz-date
   * @param payloadSha256 the hex SHA-256 of the body (also sent as x-amz-content-sha256 to S3)
   */
  static Signed sign(String method, String canonicalUri, String canonicalQuery, Map<String, String> headers,
      String payloadSha256, String accessKeyId, String secretAccessKey, String region, String service,
      Instant time) {
    SortedMap<String, String> canonical = new TreeMap<>();
    headers.forEach((k, v) -> canonical.put(k.toLowerCase(java.util.Locale.ROOT), v.strip().replaceAll(" +", " ")));
    StringBuilder lines = new StringBuilder();
    StringJoiner names = new StringJoiner(";");
    canonical.forEach((k, v) -> {
      lines.append(k).append(':').append(v).append('\n');
      names.add(k);
    });
    String signedHeaders = names.toString();
    String canonicalRequest = method + "\n" + canonicalUri + "\n" + canonicalQuery + "\n" + lines + "\n"
        + signedHeaders + "\n" + payloadSha256;
    String date = amzDate(time).substring(0, 8);
    String scope = date + "/" + region + "/" + service + "/aws4_request";
    String stringToSign = ALGORITHM + "\n" + amzDate(time) + "\n" + scope + "\n"
        + io.bonestream.core.util.Hashes.sha256Hex(canonicalRequest.getBytes(StandardCharsets.UTF_8));
    byte[] key = hmac(("AWS4" + secretAccessKey).getBytes(StandardCharsets.UTF_8), date);
    key = hmac(key, region);
    key = hmac(key, service);
    key = hmac(key, "aws4_request");
    String signature = java.util.HexFormat.of().formatHex(hmac(key, stringToSign));
    String authorization = ALGORITHM + " Credential=" + accessKeyId + "/" + scope + ",SignedHeaders=" + signedHeaders
        + ",Signature=" + signature;
    return new Signed(canonicalRequest, stringToSign, signature, signedHeaders, authorization);
  }

  /**
   * URI-encodes a path for the canonical request and the request line: every byte but the
   * unreserved characters (A-Z a-z 0-9 - . _ ~) and '/' as %XY, upper-case hex.
   */
  static String encodePath(String path) {
    StringBuilder b = new StringBuilder();
    for (byte x : path.getBytes(StandardCharsets.UTF_8)) {
      char c = (char) (x & 0xff);
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
          || c == '_' || c == '~' || c == '/') {
        b.append(c);
      } else {
        b.append('%').append(Character.toUpperCase(Character.forDigit((x >> 4) & 0xf, 16)))
            .append(Character.toUpperCase(Character.forDigit(x & 0xf, 16)));
      }
    }
    return b.toString();
  }

  private static byte[] hmac(byte[] key, String data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available", e);
    }
  }
}
