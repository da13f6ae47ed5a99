package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Reads claim-check blobs from Amazon S3 or any S3-compatible store (MinIO, Ceph RGW, ...) with a
 * GET signed by AWS Signature Version 4; JDK only (java.net.http, HmacSHA256). Takes the URIs
 * Flink's S3 file systems write: {@code s3://bucket/key}, {@code s3a://...} and {@code s3p://...}
 * ({@link #SCHEMES}; register it for each, e.g. with {@link AdapterSubscriber.Builder#s3(S3BlobFetcher)}).
 *
 * <p>Every failure is a {@link BlobFetchException} whose message names what the store answered,
 * e.g. {@code HTTP 403 SignatureDoesNotMatch} or {@code HTTP 404 NoSuchKey}, and where it was asked;
 * the subscriber refuses the version as {@link RefusalReason#MISSING_BLOB}. Server errors (5xx,
 * 429) and broken connections are tried again ({@link Builder#retries}). The credentials appear in
 * no message and no {@code toString()}. The SHA-256 and size of the blob are checked by the
 * subscriber against its manifest, not here.
 */
public final class S3BlobFetcher implements BlobFetcher {
  /** The URI schemes this fetcher reads, as Flink's S3 file systems write them. */
  public static final Set<String> SCHEMES = Set.of("s3", "s3a", "s3p");
  public static final String DEFAULT_REGION = "us-east-1";
  /** The largest object by default: the largest Java array. */
  public static final long MAX_OBJECT_SIZE = Integer.MAX_VALUE - 8;

  private static final Pattern REGION = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  private static final Pattern CODE = Pattern.compile("<Code>([^<]{1,200})</Code>");
  private static final Pattern MESSAGE = Pattern.compile("<Message>([^<]{1,1000})</Message>");

  private final URI endpoint;
  private final String region;
  private final boolean pathStyle;
  private final S3Credentials credentials;
  private final Duration connectTimeout;
  private final Duration requestTimeout;
  private final long maxObjectSize;
  private final int retries;
  private final Clock clock;
  private final HttpClient http;

  private S3BlobFetcher(Builder b, S3Credentials credentials) {
    this.region = b.region;
    this.endpoint = b.endpoint != null ? b.endpoint : URI.create("https://s3." + region + ".amazonaws.com");
    this.pathStyle = b.pathStyle != null ? b.pathStyle : b.endpoint != null;
    this.credentials = credentials;
    this.connectTimeout = b.connectTimeout;
    this.requestTimeout = b.requestTimeout;
    this.maxObjectSize = b.maxObjectSize;
    this.retries = b.retries;
    this.clock = b.clock;
    this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(b.connectTimeout).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Where requests go: {@code https://s3.<region>.amazonaws.com} unless another endpoint was given. */
  public URI endpoint() {
    return endpoint;
  }

  public String region() {
    return region;
  }

  /** Path-style ({@code endpoint/bucket/key}) rather than virtual-host ({@code bucket.endpoint/key}) requests. */
  public boolean pathStyle() {
    return pathStyle;
  }

  @Override
  public byte[] fetch(URI uri) throws IOException {
    return fetch(uri, maxObjectSize);
  }

  /** As {@link #fetch(URI)}, refusing an object over {@code maxBytes} (or the fetcher's limit) unread. */
  @Override
  public byte[] fetch(URI uri, long maxBytes) throws IOException {
    long limit = Math.min(maxBytes, maxObjectSize);
    Location loc = locate(uri);
    BlobFetchException last = null;
    for (int attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        try {
          Thread.sleep(250L << Math.min(attempt - 1, 5));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new BlobFetchException("interrupted while fetching from " + where());
        }
      }
      try {
        return get(loc, limit);
      } catch (Retry r) {
        last = r.failure;
      }
    }
    throw last == null ? new BlobFetchException("not fetched from " + where()) : last;
  }

  private byte[] get(Location loc, long limit) throws BlobFetchException, Retry {
    HttpResponse<InputStream> resp;
    try {
      resp = http.send(request(loc, null), HttpResponse.BodyHandlers.ofInputStream());
    } catch (HttpTimeoutException e) {
      throw new Retry(new BlobFetchException((e instanceof java.net.http.HttpConnectTimeoutException
          ? "no connection to " + where() + " within " + seconds(connectTimeout)
          : "no answer from " + where() + " within " + seconds(requestTimeout)), e));
    } catch (ConnectException e) {
      throw new Retry(new BlobFetchException("cannot connect to " + where() + ": "
          + (e.getMessage() == null ? "connection refused" : e.getMessage()), e));
    } catch (IOException e) {
      throw new Retry(new BlobFetchException("cannot reach " + where() + ": " + e, e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BlobFetchException("interrupted while fetching from " + where());
    }
    int status = resp.statusCode();
    try (InputStream in = resp.body()) {
      if (status == 200) {
        return body(in, resp.headers().firstValueAsLong("content-length"), limit);
      }
      String error = error(in);
      BlobFetchException failure = new BlobFetchException("HTTP " + status + " " + error + " (" + where() + ")");
      if (status >= 500 || status == 429) {
        throw new Retry(failure);
      }
      throw failure;
    } catch (BlobFetchException | Retry e) {
      throw e;
    } catch (IOException e) {
      throw new Retry(new BlobFetchException("the connection to " + where() + " broke: " + e, e));
    }
  }

  /** The object, at most {@code limit} bytes, read within the request timeout (a slow body is cut). */
  private byte[] body(InputStream in, OptionalLong length, long limit) throws IOException {
    if (length.isPresent() && length.getAsLong() > limit) {
      throw new BlobFetchException("the object has " + length.getAsLong() + " bytes, over the limit of " + limit
          + " (" + where() + ")");
    }
    byte[] b = BoundedRead.read(in, limit, requestTimeout, "the object at " + where());
    if (length.isPresent() && b.length != length.getAsLong()) {
      throw new IOException("the object ended after " + b.length + " of " + length.getAsLong() + " bytes");
    }
    return b;
  }

  /** "NoSuchKey: The specified key does not exist." from an S3 error document. */
  private static String error(InputStream in) throws IOException {
    String xml = new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
    Matcher code = CODE.matcher(xml);
    if (!code.find()) {
      return "(no S3 error code in the answer)";
    }
    Matcher message = MESSAGE.matcher(xml);
    return oneLine(code.group(1)) + (message.find() ? ": " + oneLine(message.group(1)) : "");
  }

  private static String oneLine(String xmlText) {
    String s = xmlText.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'")
        .replace("&amp;", "&").replaceAll("\\p{Cntrl}+", " ").strip();
    return s.length() > 300 ? s.substring(0, 300) + "..." : s;
  }

  private static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private String where() {
    return "endpoint " + endpoint + ", region " + region + ", " + (pathStyle ? "path-style" : "virtual-host");
  }

  /** The signed GET of the object {@code uri} names (package-private for the signature tests). */
  HttpRequest request(URI uri, @Nullable String range) throws BlobFetchException {
    return request(locate(uri), range);
  }

  private HttpRequest request(Location loc, @Nullable String range) {
    String authority = authority(endpoint);
    String host = pathStyle ? authority : loc.bucket + "." + authority;
    String path = SigV4.encodePath(pathStyle ? "/" + loc.bucket + "/" + loc.key : "/" + loc.key);
    Instant now = clock.instant();
    Map<String, String> headers = new TreeMap<>();
    headers.put("host", host);
    if (range != null) {
      headers.put("range", range);
    }
    headers.put("x-amz-content-sha256", SigV4.EMPTY_SHA256);
    headers.put("x-amz-date", SigV4.amzDate(now));
    String token = credentials.sessionToken();
    if (token != null) {
      headers.put("x-amz-security-token", token);
    }
    SigV4.Signed signed = SigV4.sign("GET", path, "", headers, SigV4.EMPTY_SHA256, credentials.accessKeyId(),
        credentials.secretAccessKey(), region, "s3", now);
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(endpoint.getScheme() + "://" + host + path))
        .GET().timeout(requestTimeout);
    headers.forEach((k, v) -> {
      if (!k.equals("host")) { // the client sends the host it connects to: the same authority
        b.header(k, v);
      }
    });
    b.header("Authorization", signed.authorization());
    return b.build();
  }

  /** host, or host:port unless the port is the scheme's default: the Host header the JDK client sends. */
  private static String authority(URI endpoint) {
    int port = endpoint.getPort();
    boolean defaultPort = port == -1 || (endpoint.getScheme().equals("https") ? port == 443 : port == 80);
    return defaultPort ? endpoint.getHost() : endpoint.getHost() + ":" + port;
  }

  private record Location(String bucket, String key) {}

  private static Location locate(URI uri) throws BlobFetchException {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!SCHEMES.contains(scheme)) {
      throw new BlobFetchException("not an s3, s3a or s3p URI");
    }
    String bucket = uri.getRawAuthority();
    String path = uri.getPath();
    if (bucket == null || bucket.isEmpty() || bucket.contains("@") || bucket.contains(":")
        || bucket.contains("%")) {
      throw new BlobFetchException("the URI names no bucket (s3://BUCKET/KEY)");
    }
    if (path == null || path.length() < 2 || uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new BlobFetchException("the URI names no object key (s3://BUCKET/KEY)");
    }
    return new Location(bucket, path.substring(1));
  }

  /** A failure worth another try. */
  private static final class Retry extends Exception {
    private static final long serialVersionUID = 1L;
    final BlobFetchException failure;

    Retry(BlobFetchException failure) {
      super(null, null, false, false);
      this.failure = failure;
    }
  }

  @Override
  public String toString() {
    return "S3BlobFetcher[" + where() + "]";
  }

  /**
   * Settings: credentials are required; the region defaults to {@value #DEFAULT_REGION}, the
   * endpoint to AWS's for the region, addressing to path-style when an endpoint is given (the usual
   * setting of MinIO and Ceph) and virtual-host otherwise.
   */
  public static final class Builder {
    private @Nullable URI endpoint;
    private String region = DEFAULT_REGION;
    private @Nullable Boolean pathStyle;
    private @Nullable S3Credentials credentials;
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Duration requestTimeout = Duration.ofSeconds(60);
    private long maxObjectSize = MAX_OBJECT_SIZE;
    private int retries = 2;
    private Clock clock = Clock.systemUTC();

    private Builder() {}

    /** The store's URL, {@code http(s)://host[:port]}, e.g. {@code http://minio.minio.svc:9000}. */
    public Builder endpoint(String url) {
      URI u;
      try {
        u = new URI(url.strip());
      } catch (URISyntaxException e) {
        throw new BonestreamException("S3 endpoint " + url + " is not a URL: " + e.getReason());
      }
      return endpoint(u);
    }

    /** As {@link #endpoint(String)}. */
    public Builder endpoint(URI url) {
      String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("http") && !scheme.equals("https")) {
        throw new BonestreamException("S3 endpoint " + url + " is not an http:// or https:// URL");
      }
      if (url.getHost() == null || url.getRawUserInfo() != null) {
        throw new BonestreamException("S3 endpoint " + url + " names no host (http(s)://HOST[:PORT])");
      }
      if ((url.getRawPath() != null && !url.getRawPath().isEmpty() && !url.getRawPath().equals("/"))
          || url.getRawQuery() != null || url.getRawFragment() != null) {
        throw new BonestreamException("S3 endpoint " + url + " has a path, query or fragment; give http(s)://HOST[:PORT]");
      }
      endpoint = URI.create(scheme + "://" + url.getRawAuthority());
      return this;
    }

    /** The region requests are signed for (default {@value #DEFAULT_REGION}). */
    public Builder region(String v) {
      if (v == null || !REGION.matcher(v).matches()) {
        throw new BonestreamException("S3 region '" + v + "' is not a region name (e.g. us-east-1)");
      }
      region = v;
      return this;
    }

    /** true: path-style requests ({@code endpoint/bucket/key}); false: virtual-host ({@code bucket.endpoint/key}). */
    public Builder pathStyle(boolean v) {
      pathStyle = v;
      return this;
    }

    public Builder credentials(S3Credentials v) {
      credentials = v;
      return this;
    }

    /** The credentials of {@link S3Credentials#fromEnvironment()}. */
    public Builder credentialsFromEnvironment() {
      return credentials(S3Credentials.fromEnvironment());
    }

    /** How long to wait for a connection (default 10 s). */
    public Builder connectTimeout(Duration v) {
      connectTimeout = positive(v, "connect timeout");
      return this;
    }

    /** How long to wait for the answer to start (default 60 s). */
    public Builder requestTimeout(Duration v) {
      requestTimeout = positive(v, "request timeout");
      return this;
    }

    /** Objects larger than this are not read (default and most: {@value #MAX_OBJECT_SIZE} bytes). */
    public Builder maxObjectSize(long bytes) {
      if (bytes <= 0 || bytes > MAX_OBJECT_SIZE) {
        throw new BonestreamException("S3 max object size " + bytes + " is not in 1.." + MAX_OBJECT_SIZE);
      }
      maxObjectSize = bytes;
      return this;
    }

    /** Further tries after a server error or a broken connection (default 2; 0 for none). */
    public Builder retries(int v) {
      if (v < 0 || v > 10) {
        throw new BonestreamException("S3 retries " + v + " is not in 0..10");
      }
      retries = v;
      return this;
    }

    /** The clock that dates the signatures (tests). */
    Builder clock(Clock v) {
      clock = v;
      return this;
    }

    private static Duration positive(@Nullable Duration v, String what) {
      if (v == null || v.isNegative() || v.isZero()) {
        throw new BonestreamException("S3 " + what + " must be positive, not " + v);
      }
      return v;
    }

    public S3BlobFetcher build() {
      if (credentials == null) {
        throw new BonestreamException("the S3 fetcher needs credentials (e.g. S3Credentials.fromEnvironment(): "
            + S3Credentials.ACCESS_KEY_ID_ENV + ", " + S3Credentials.SECRET_ACCESS_KEY_ENV + ")");
      }
      return new S3BlobFetcher(this, credentials);
    }
  }
}
