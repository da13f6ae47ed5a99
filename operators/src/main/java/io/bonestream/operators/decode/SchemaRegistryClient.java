package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writers' schemas by id from a registry's Confluent-compatible REST API ({@code GET
 * <url>/schemas/ids/<id>}; the schemas it references by subject and version from {@code GET
 * <url>/subjects/<subject>/versions/<version>}, at most {@link #MAX_REFERENCES}), on plain
 * {@link HttpClient}. Schemas are cached by id (least recently
 * used out), unknown ids for {@link #NEGATIVE_TTL}. A lookup is bounded: every request within the
 * settings' timeout (connecting to the last byte), answers within {@link #MAX_RESPONSE_BYTES},
 * transient failures retried with backoff at most {@code retries} times; then the lookup fails
 * with {@link DeadLetterReason#REGISTRY_UNAVAILABLE} and, for {@link #FAIL_FAST} or the longest a
 * lookup may take, whichever is longer (so an outage blocks decoding at most half the time), other
 * lookups of uncached ids fail at once the same way (cached schemas keep decoding). No lookup ever
 * throws anything but {@link Rejected}; credentials are never part of a message.
 */
final class SchemaRegistryClient implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(SchemaRegistryClient.class);
  static final int MAX_RESPONSE_BYTES = 1 << 20;
  static final Duration NEGATIVE_TTL = Duration.ofSeconds(10);
  static final Duration FAIL_FAST = Duration.ofSeconds(5);
  static final int MAX_REFERENCES = 32;
  static final int MAX_REFERENCE_DEPTH = 8;

  private final RegistrySettings settings;
  private final HttpClient http;
  private final @Nullable String authorization;
  private final Map<Integer, Schema> schemas;
  private final Map<Integer, Long> unknownUntil;
  private final Map<Integer, Rejected> refused;
  private @Nullable Rejected lastFailure;
  private long failFastUntil;
  private final Duration failFast;
  private int requests;

  /** Reads the credentials and truststore (on the TaskManager); a mistake there is an error naming it. */
  SchemaRegistryClient(RegistrySettings settings) {
    this.settings = settings;
    this.authorization = authorization(settings.auth());
    Duration worst = settings.worstCaseLookup();
    this.failFast = worst.compareTo(FAIL_FAST) > 0 ? worst : FAIL_FAST;
    HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(settings.timeout())
        .followRedirects(HttpClient.Redirect.NEVER);
    if (settings.truststore() != null) {
      b.sslContext(sslContext(settings));
    }
    this.http = b.build();
    int size = settings.cacheSize();
    this.schemas = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Integer, Schema> e) {
        return size() > size;
      }
    };
    this.unknownUntil = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Integer, Long> e) {
        return size() > size;
      }
    };
    // a registry never changes the schema of an id: a refusal holds as long as a schema would be kept
    this.refused = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Integer, Rejected> e) {
        return size() > size;
      }
    };
  }

  /** How many HTTP requests were sent (tests: the cache and the fail-fast window). */
  synchronized int requests() {
    return requests;
  }

  /** The writer's schema of {@code id}, from the cache or the registry. */
  synchronized Schema schema(int id) throws Rejected {
    Schema s = schemas.get(id);
    if (s != null) {
      return s;
    }
    Rejected no = refused.get(id);
    if (no != null) {
      throw no;
    }
    long now = System.nanoTime();
    Long until = unknownUntil.get(id);
    if (until != null && now - until < 0) {
      throw unknown(id);
    }
    if (lastFailure != null && now - failFastUntil < 0) {
      throw new Rejected(lastFailure.reason(), lastFailure.getMessage() + " (not asked again for "
          + failFast.toMillis() / 1000.0 + " s)");
    }
    try {
      s = fetch(id);
    } catch (Rejected r) {
      if (r.reason() == DeadLetterReason.UNKNOWN_SCHEMA_ID) {
        unknownUntil.put(id, System.nanoTime() + NEGATIVE_TTL.toNanos());
      } else if (r.reason() == DeadLetterReason.INCOMPATIBLE_SCHEMA) {
        refused.put(id, r);
      } else if (r.reason() == DeadLetterReason.REGISTRY_UNAVAILABLE
          || r.reason() == DeadLetterReason.REGISTRY_REFUSED_CREDENTIALS) {
        lastFailure = r;
        failFastUntil = System.nanoTime() + failFast.toNanos();
        // once per window, not per record; the message names the URL and the auth kind, never a secret
        LOG.warn("{}; records of schemas not cached go to the dead letters, the registry is asked again in {} s",
            r.getMessage(), failFast.toMillis() / 1000.0);
      }
      throw r;
    }
    lastFailure = null;
    unknownUntil.remove(id);
    schemas.put(id, s);
    return s;
  }

  private Rejected unknown(int id) {
    return new Rejected(DeadLetterReason.UNKNOWN_SCHEMA_ID, "schema id " + id + " is not in the registry at "
        + settings.url());
  }

  private Schema fetch(int id) throws Rejected {
    String what = "schema id " + id;
    Answer a = request(URI.create(settings.url() + "/schemas/ids/" + Integer.toUnsignedString(id)), what);
    if (a.status != 200) {
      if (a.code == 40403) {
        throw unknown(id);
      }
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
          + " answered HTTP 404" + brief(a.body) + " for " + what
          + ": is the URL the root of its Confluent-compatible API (Apicurio: .../apis/ccompat/v7)?");
    }
    JsonNode n = schemaAnswer(a.body, what);
    Schema.Parser parser = new Schema.Parser().setValidateDefaults(false);
    resolve(n, what, parser, new HashSet<>(), 0);
    return parse(parser, n, what);
  }

  /**
   * Parses the schemas {@code n} references (another subject's version, by name), theirs first, into
   * {@code parser}, so that {@code n}'s schema can name their types.
   */
  private void resolve(JsonNode n, String what, Schema.Parser parser, Set<String> done, int depth) throws Rejected {
    JsonNode refs = n.path("references");
    if (!refs.isArray()) {
      return;
    }
    for (JsonNode ref : refs) {
      String name = ref.path("name").asText("");
      String subject = ref.path("subject").asText("");
      int version = ref.path("version").asInt(-1);
      if (subject.isEmpty() || version < 1) {
        throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, what + " has a reference without a subject and a "
            + "version: " + Texts.abbreviate(ref.toString()));
      }
      if (!done.add(subject.length() + ":" + subject + ":" + version)) {
        continue; // two paths to one schema
      }
      if (done.size() > MAX_REFERENCES || depth >= MAX_REFERENCE_DEPTH) {
        throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, what + " has more than " + MAX_REFERENCES
            + " references or references nested deeper than " + MAX_REFERENCE_DEPTH);
      }
      String refWhat = "reference " + name + " (subject " + subject + ", version " + version + ") of " + what;
      Answer a = request(URI.create(settings.url() + "/subjects/"
          + URLEncoder.encode(subject, StandardCharsets.UTF_8).replace("+", "%20") + "/versions/" + version), refWhat);
      if (a.status != 200) {
        throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, refWhat + " is not in the registry" + brief(a.body));
      }
      JsonNode r = schemaAnswer(a.body, refWhat);
      resolve(r, refWhat, parser, done, depth + 1);
      parse(parser, r, refWhat);
    }
  }

  /**
   * GET with the retries: an answer 200 or 404 (the caller tells a registry's own error codes, 40401
   * subject, 40402 version, 40403 schema not found, from a wrong URL's). Everything else is a
   * {@link Rejected}.
   */
  private Answer request(URI uri, String what) throws Rejected {
    return request(uri, what, null);
  }

  /**
   * Registers {@code schema} under {@code subject} (or finds it registered) and answers its id: the
   * writer's side of the wire format, for {@code bonestream produce --format avro-registry}.
   */
  int register(String subject, Schema schema) throws Rejected {
    URI uri = URI.create(settings.url().replaceAll("/+$", "") + "/subjects/"
        + java.net.URLEncoder.encode(subject, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20")
        + "/versions");
    byte[] body;
    try {
      body = io.bonestream.core.util.Json.MAPPER.writeValueAsBytes(java.util.Map.of("schema", schema.toString()));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    Answer a = request(uri, "registering under subject " + subject, body);
    if (a.status != 200) {
      throw new Rejected(a.status == 409 ? DeadLetterReason.INCOMPATIBLE_SCHEMA : DeadLetterReason.REGISTRY_UNAVAILABLE,
          "schema registry " + settings.url() + " refused the schema for subject " + subject + ": HTTP " + a.status
              + brief(a.body));
    }
    try {
      JsonNode id = io.bonestream.core.util.Json.MAPPER.readTree(a.body).get("id");
      if (id == null || !id.canConvertToInt()) {
        throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
            + " answered a registration without an id" + brief(a.body));
      }
      return id.asInt();
    } catch (java.io.IOException e) {
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
          + " answered a registration that is not JSON" + brief(a.body));
    }
  }

  private Answer request(URI uri, String what, byte @Nullable [] postBody) throws Rejected {
    String lastError = "";
    for (int attempt = 0; attempt <= settings.retries(); attempt++) {
      if (attempt > 0) {
        sleep(settings.pause(attempt - 1));
      }
      Answer a;
      try {
        a = send(uri, postBody);
      } catch (Transient t) {
        lastError = t.getMessage();
        continue;
      }
      if (a.status == 200 || a.status == 404 || (postBody != null && a.status == 409)) {
        return a;
      }
      if (a.status == 401 || a.status == 403) {
        throw new Rejected(DeadLetterReason.REGISTRY_REFUSED_CREDENTIALS, "schema registry " + settings.url()
            + " refused the credentials (HTTP " + a.status + ", auth " + kind(settings.auth()) + ")");
      }
      if (a.status >= 500 || a.status == 429 || a.status == 408) {
        lastError = "HTTP " + a.status + brief(a.body);
        continue;
      }
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url() + " answered HTTP "
          + a.status + brief(a.body) + " for " + what);
    }
    throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url() + " unavailable after "
        + (settings.retries() + 1) + " attempt(s): " + lastError);
  }

  private static void sleep(Duration d) throws Rejected {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "interrupted while waiting to ask the registry again");
    }
  }

  /** An answer, with the registry's {@code error_code} where its body has one (else -1). */
  private record Answer(int status, byte[] body, int code) {
    Answer(int status, byte[] body) {
      this(status, body, status == 200 ? -1 : errorCode(body));
    }
  }

  /** A failure worth another attempt. */
  private static final class Transient extends Exception {
    Transient(String message) {
      super(message, null, false, false);
    }
  }

  private Answer send(URI uri, byte @Nullable [] postBody) throws Transient, Rejected {
    HttpRequest.Builder r = HttpRequest.newBuilder(uri).timeout(settings.timeout())
        .header("Accept", "application/vnd.schemaregistry.v1+json, application/json");
    if (postBody == null) {
      r.GET();
    } else {
      r.POST(HttpRequest.BodyPublishers.ofByteArray(postBody)).header("Content-Type", "application/vnd.schemaregistry.v1+json");
    }
    if (authorization != null) {
      r.header("Authorization", authorization);
    }
    synchronized (this) {
      requests++;
    }
    CompletableFuture<HttpResponse<byte[]>> f = http.sendAsync(r.build(), info -> new LimitedBody(MAX_RESPONSE_BYTES));
    try {
      // the request's own timeout ends at the headers: this one bounds the body too
      HttpResponse<byte[]> resp = f.get(settings.timeout().toMillis(), TimeUnit.MILLISECONDS);
      return new Answer(resp.statusCode(), resp.body());
    } catch (TimeoutException e) {
      f.cancel(true);
      throw new Transient("no complete answer within " + settings.timeout().toMillis() + " ms");
    } catch (InterruptedException e) {
      f.cancel(true);
      Thread.currentThread().interrupt();
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "interrupted while asking the registry");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (find(c, TooLarge.class) != null) {
        throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
            + " sent an answer over " + MAX_RESPONSE_BYTES + " bytes");
      }
      SSLException tls = find(c, SSLException.class);
      if (tls != null) { // a certificate the truststore does not vouch for: asking again changes nothing
        throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
            + ": TLS failed (does the truststore hold the registry's CA?): " + tls.getMessage());
      }
      if (c instanceof HttpTimeoutException) {
        throw new Transient("no answer within " + settings.timeout().toMillis() + " ms");
      }
      if (c instanceof ConnectException) {
        throw new Transient("cannot connect" + (c.getMessage() == null ? "" : ": " + c.getMessage()));
      }
      throw new Transient(c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage()));
    }
  }

  private static <T extends Throwable> @Nullable T find(@Nullable Throwable t, Class<T> type) {
    for (int i = 0; t != null && i < 8; i++, t = t.getCause()) {
      if (type.isInstance(t)) {
        return type.cast(t);
      }
    }
    return null;
  }

  /** The answer's {@code {"schema": ..., "schemaType": ...}}, an Avro one. */
  private JsonNode schemaAnswer(byte[] body, String what) throws Rejected {
    JsonNode n;
    try {
      n = Json.MAPPER.readTree(body);
    } catch (IOException e) {
      n = null;
    }
    if (n == null || !n.isObject() || !n.path("schema").isTextual()) {
      throw new Rejected(DeadLetterReason.REGISTRY_UNAVAILABLE, "schema registry " + settings.url()
          + " answered " + what + " with something other than {\"schema\": ...}"
          + ": is the URL the root of its Confluent-compatible API?");
    }
    String type = n.path("schemaType").asText("AVRO");
    if (!type.equalsIgnoreCase("AVRO")) {
      throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, what + " is a " + Texts.abbreviate(type)
          + " schema; an avro-registry input reads Avro only");
    }
    return n;
  }

  private static Schema parse(Schema.Parser parser, JsonNode n, String what) throws Rejected {
    try {
      return parser.parse(n.get("schema").asText());
    } catch (SchemaParseException | NullPointerException | IllegalArgumentException e) {
      throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, what + " is not a valid Avro schema: "
          + Texts.abbreviate(String.valueOf(e.getMessage())));
    }
  }

  private static int errorCode(byte[] body) {
    try {
      return Json.MAPPER.readTree(body).path("error_code").asInt(-1);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** At most 80 characters of a JSON error's message, or nothing. */
  private static String brief(byte[] body) {
    try {
      JsonNode n = Json.MAPPER.readTree(body);
      if (n != null && n.path("message").isTextual()) {
        String m = n.get("message").asText().replaceAll("\\p{Cntrl}", " ");
        return " (" + (m.length() > 80 ? m.substring(0, 80) + "..." : m) + ")";
      }
    } catch (IOException | RuntimeException e) {
      // not JSON: say nothing of it
    }
    return "";
  }

  private static String kind(RegistrySettings.Auth a) {
    return a instanceof RegistrySettings.Auth.Basic b ? "basic, user " + b.user()
        : a instanceof RegistrySettings.Auth.Bearer ? "bearer" : "none";
  }

  private static @Nullable String authorization(RegistrySettings.Auth a) {
    if (a instanceof RegistrySettings.Auth.Basic b) {
      String pair = b.user() + ":" + b.password().load();
      return "Basic " + Base64.getEncoder().encodeToString(pair.getBytes(StandardCharsets.UTF_8));
    }
    if (a instanceof RegistrySettings.Auth.Bearer t) {
      return "Bearer " + t.token().load();
    }
    return null;
  }

  /** Trust only the truststore's certificates: PEM ({@code -----BEGIN CERTIFICATE-----}) or PKCS12. */
  static SSLContext sslContext(RegistrySettings settings) {
    String file = settings.truststore();
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(Path.of(file));
    } catch (NoSuchFileException e) {
      throw new BonestreamException("registry truststore " + file + " not found");
    } catch (IOException e) {
      throw new BonestreamException("cannot read registry truststore " + file + ": " + e.getMessage());
    }
    try {
      KeyStore ks;
      if (new String(bytes, StandardCharsets.ISO_8859_1).contains("-----BEGIN CERTIFICATE-----")) {
        ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(bytes))) {
          ks.setCertificateEntry("ca-" + i++, c);
        }
        if (i == 0) {
          throw new BonestreamException("registry truststore " + file + " holds no certificate");
        }
      } else {
        ks = KeyStore.getInstance("PKCS12");
        char[] password = settings.truststorePassword() == null ? null : settings.truststorePassword().load().toCharArray();
        ks.load(new ByteArrayInputStream(bytes), password);
        if (ks.size() == 0) {
          throw new BonestreamException("registry truststore " + file + " holds no certificate");
        }
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ks);
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(null, tmf.getTrustManagers(), null);
      return ctx;
    } catch (GeneralSecurityException | IOException e) {
      throw new BonestreamException("registry truststore " + file + " is neither PEM certificates nor a PKCS12 file "
          + "it can open (a wrong password?): " + e.getClass().getSimpleName());
    }
  }

  @Override
  public void close() {
    // HttpClient has no close() on Java 17; its threads end when it is unreachable
  }

  private static final class TooLarge extends IOException {
    TooLarge() {
      super("answer too large", null);
    }
  }

  /** Collects a body up to {@code limit} bytes; more cancels the exchange. */
  private static final class LimitedBody implements HttpResponse.BodySubscriber<byte[]> {
    private final int limit;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private Flow.@Nullable Subscription subscription;

    LimitedBody(int limit) {
      this.limit = limit;
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
      for (ByteBuffer b : items) {
        if (out.size() + b.remaining() > limit) {
          subscription.cancel();
          result.completeExceptionally(new TooLarge());
          return;
        }
        byte[] chunk = new byte[b.remaining()];
        b.get(chunk);
        out.write(chunk, 0, chunk.length);
      }
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
      result.complete(out.toByteArray());
    }
  }
}
