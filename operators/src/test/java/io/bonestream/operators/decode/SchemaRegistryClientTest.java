package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyStore;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry client against a loopback HTTP(S) server that answers as a registry does (the
 * answers recorded from Apicurio Registry, {@code src/test/resources/registry}): the cache, unknown
 * ids, retries and their bound, oversized and slow answers, basic and bearer credentials read from
 * files and environment variables, refused credentials, and https with a truststore of the
 * server's self-signed certificate (made with keytool).
 */
class SchemaRegistryClientTest {
  /** Set by the operators module's surefire configuration. */
  private static final String TOKEN_ENV = "BONESTREAM_TEST_REGISTRY_TOKEN";

  @TempDir static Path tls;
  @TempDir Path dir;

  private HttpServer server;
  private final List<HttpServer> servers = new ArrayList<>();
  private final List<ExecutorService> pools = new ArrayList<>();
  private final AtomicInteger requests = new AtomicInteger();
  private final List<String> authorizations = Collections.synchronizedList(new ArrayList<>());

  /** What the server does with a request: its path and Authorization header (or null). */
  @FunctionalInterface
  interface Handler {
    void handle(HttpExchange x, String path, String authorization) throws Exception;
  }

  @BeforeAll
  static void certificates() throws Exception {
    keytool("-genkeypair", "-alias", "registry", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
        "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12",
        "-keystore", tls.resolve("server.p12").toString(), "-storepass", "server-pass", "-keypass", "server-pass");
    keytool("-exportcert", "-rfc", "-alias", "registry", "-keystore", tls.resolve("server.p12").toString(),
        "-storepass", "server-pass", "-file", tls.resolve("ca.pem").toString());
    keytool("-importcert", "-noprompt", "-alias", "registry", "-file", tls.resolve("ca.pem").toString(),
        "-storetype", "PKCS12", "-keystore", tls.resolve("trust.p12").toString(), "-storepass", "trust-pass");
    // a certificate for another host name
    keytool("-genkeypair", "-alias", "registry", "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=registry.example.com", "-ext", "SAN=dns:registry.example.com", "-validity", "2",
        "-storetype", "PKCS12", "-keystore", tls.resolve("other.p12").toString(), "-storepass", "server-pass",
        "-keypass", "server-pass");
    keytool("-exportcert", "-rfc", "-alias", "registry", "-keystore", tls.resolve("other.p12").toString(),
        "-storepass", "server-pass", "-file", tls.resolve("other.pem").toString());
  }

  private static void keytool(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "keytool " + String.join(" ", args) + ": " + out);
  }

  @AfterEach
  void stop() {
    servers.forEach(s -> s.stop(0));
    pools.forEach(ExecutorService::shutdownNow);
  }

  private String serve(Handler h) throws IOException {
    return serve(h, null);
  }

  /** Starts the server (https with {@code ssl}); its URL. */
  private String serve(Handler h, SSLContext ssl) throws IOException {
    InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
    if (ssl != null) {
      HttpsServer s = HttpsServer.create(at, 0);
      s.setHttpsConfigurator(new HttpsConfigurator(ssl));
      server = s;
    } else {
      server = HttpServer.create(at, 0);
    }
    ExecutorService threads = Executors.newCachedThreadPool();
    servers.add(server);
    pools.add(threads);
    server.setExecutor(threads);
    server.createContext("/", x -> {
      requests.incrementAndGet();
      String auth = x.getRequestHeaders().getFirst("Authorization");
      authorizations.add(auth);
      try {
        h.handle(x, x.getRequestURI().getPath(), auth);
      } catch (Exception e) {
        // the client went away (a timeout): nothing to answer
      } finally {
        x.close();
      }
    });
    server.start();
    return (ssl != null ? "https" : "http") + "://127.0.0.1:" + server.getAddress().getPort() + "/apis/ccompat/v7";
  }

  static byte[] recorded(String name) throws IOException {
    try (InputStream in = SchemaRegistryClientTest.class.getResourceAsStream("/registry/" + name)) {
      return in.readAllBytes();
    }
  }

  static void answer(HttpExchange x, int status, byte[] body) throws IOException {
    x.getResponseHeaders().add("Content-Type", "application/json");
    x.sendResponseHeaders(status, body.length);
    try (OutputStream o = x.getResponseBody()) {
      o.write(body);
    }
  }

  /** Answers every id with the recorded SupportTicket schema. */
  private static void schemaOk(HttpExchange x, String path, String auth) throws IOException {
    answer(x, 200, recorded("schema-ok.json"));
  }

  private static RegistrySettings.Builder settings(String url) {
    // a first request of a cold JVM (HttpClient's classes, a TLS handshake) takes a while on a busy machine
    return RegistrySettings.builder(url).timeout(Duration.ofSeconds(5)).retries(2).backoff(Duration.ofMillis(50));
  }

  private static Rejected rejected(SchemaRegistryClient c, int id) {
    return assertThrows(Rejected.class, () -> c.schema(id));
  }

  private Path secretFile(String text) throws IOException {
    Path f = dir.resolve("secret-" + System.nanoTime());
    Files.writeString(f, text);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
    return f;
  }

  @Test
  void schemasAreCachedByIdLeastRecentlyUsedOut() throws Exception {
    List<String> paths = Collections.synchronizedList(new ArrayList<>());
    String url = serve((x, path, auth) -> {
      paths.add(path);
      schemaOk(x, path, auth);
    });
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).cacheSize(2).build());
    assertEquals("com.example.SupportTicket", c.schema(1).getFullName());
    assertEquals("com.example.SupportTicket", c.schema(1).getFullName());
    assertEquals(List.of("/apis/ccompat/v7/schemas/ids/1"), paths);
    c.schema(2);
    c.schema(3); // 1 is out
    c.schema(3);
    c.schema(1);
    assertEquals(4, requests.get());
    assertEquals(4, c.requests());
  }

  @Test
  void anUnknownIdIsRememberedBriefly() throws Exception {
    String url = serve((x, path, auth) -> answer(x, 404, recorded("unknown-id.json")));
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).build());
    Rejected r = rejected(c, 999);
    assertEquals(DeadLetterReason.UNKNOWN_SCHEMA_ID, r.reason());
    assertEquals("schema id 999 is not in the registry at " + url, r.getMessage());
    assertEquals(DeadLetterReason.UNKNOWN_SCHEMA_ID, rejected(c, 999).reason());
    assertEquals(1, requests.get(), "not asked again within " + SchemaRegistryClient.NEGATIVE_TTL);
  }

  @Test
  void aUrlThatIsNotTheConfluentApiRootIsSaidSo() throws Exception {
    String url = serve((x, path, auth) -> answer(x, 404, recorded("wrong-path.json")));
    Rejected r = rejected(new SchemaRegistryClient(settings(url).build()), 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertTrue(r.getMessage().contains("answered HTTP 404 (RESTEASY003210") && r.getMessage().contains(
        "is the URL the root of its Confluent-compatible API (Apicurio: .../apis/ccompat/v7)?"), r.getMessage());
    assertEquals(1, requests.get(), "a 404 is not retried");
  }

  @Test
  void schemasThatAreNotPlainAvroAreIncompatible() throws Exception {
    String url = serve((x, path, auth) -> {
      switch (path.substring(path.lastIndexOf('/') + 1)) {
        case "1" -> answer(x, 200, recorded("protobuf.json"));
        case "3" -> answer(x, 200, "{\"schema\": \"{\\\"type\\\": \\\"record\\\"}\"}".getBytes(StandardCharsets.UTF_8));
        default -> answer(x, 200, "<html>a login page</html>".getBytes(StandardCharsets.UTF_8));
      }
    });
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).build());
    Rejected proto = rejected(c, 1);
    assertEquals(DeadLetterReason.INCOMPATIBLE_SCHEMA, proto.reason());
    assertEquals("schema id 1 is a PROTOBUF schema; an avro-registry input reads Avro only", proto.getMessage());
    Rejected bad = rejected(c, 3);
    assertEquals(DeadLetterReason.INCOMPATIBLE_SCHEMA, bad.reason());
    assertTrue(bad.getMessage().startsWith("schema id 3 is not a valid Avro schema"), bad.getMessage());
    assertEquals(2, requests.get());
    for (int id : new int[] {1, 3, 1, 3}) {
      assertEquals(DeadLetterReason.INCOMPATIBLE_SCHEMA, rejected(c, id).reason());
    }
    assertEquals(2, requests.get(), "a refused schema is not fetched again");
    Rejected html = rejected(c, 4);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, html.reason());
    assertTrue(html.getMessage().contains("something other than {\"schema\": ...}"), html.getMessage());
  }

  @Test
  void referencedSchemasAreResolvedBySubjectAndVersion() throws Exception {
    List<String> paths = Collections.synchronizedList(new ArrayList<>());
    String url = serve((x, path, auth) -> {
      paths.add(path.substring(path.indexOf("/v7/") + 3));
      switch (path.substring(path.indexOf("/v7/") + 3)) {
        case "/schemas/ids/2", "/schemas/ids/3" -> answer(x, 200, recorded("with-references.json"));
        case "/subjects/turn-value/versions/1" -> answer(x, 200, recorded("referenced-version.json"));
        default -> answer(x, 404, recorded("unknown-version.json"));
      }
    });
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).build());
    org.apache.avro.Schema s = c.schema(2);
    assertEquals("com.example.Turn", s.getField("messages").schema().getElementType().getFullName());
    assertEquals(List.of("role", "content"), s.getField("messages").schema().getElementType().getFields().stream()
        .map(org.apache.avro.Schema.Field::name).toList());
    assertEquals(List.of("/schemas/ids/2", "/subjects/turn-value/versions/1"), paths);

    // the referenced version gone
    paths.clear();
    String missing = serve((x, path, auth) -> {
      if (path.endsWith("/schemas/ids/2")) {
        answer(x, 200, recorded("with-references.json"));
      } else {
        answer(x, 404, recorded("unknown-version.json"));
      }
    });
    Rejected r = rejected(new SchemaRegistryClient(settings(missing).build()), 2);
    assertEquals(DeadLetterReason.INCOMPATIBLE_SCHEMA, r.reason());
    assertEquals("reference com.example.Turn (subject turn-value, version 1) of schema id 2 is not in the registry "
        + "(No version '7' found for artifact with ID 'turn-value' in group 'null'.)", r.getMessage());
  }

  @Test
  void transientFailuresAreRetriedWithBackoff() throws Exception {
    AtomicInteger n = new AtomicInteger();
    String url = serve((x, path, auth) -> {
      if (n.incrementAndGet() <= 2) {
        answer(x, 503, "{\"error_code\":50301,\"message\":\"warming up\"}".getBytes(StandardCharsets.UTF_8));
      } else {
        schemaOk(x, path, auth);
      }
    });
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).build());
    assertEquals("com.example.SupportTicket", c.schema(7).getFullName());
    assertEquals(3, requests.get());
  }

  @Test
  void aFailingRegistryIsADeadLetterAfterTheRetriesThenFailsFast() throws Exception {
    String url = serve((x, path, auth) -> answer(x, 500, "{\"error_code\":50001,\"message\":\"db down\"}"
        .getBytes(StandardCharsets.UTF_8)));
    // the longest lookup: 3 × 1 s + 0.05 + 0.1 s, under the 5 s of the window; 3 × 2 s + ..., over it
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).timeout(Duration.ofSeconds(1)).build());
    Rejected r = rejected(c, 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertEquals("schema registry " + url + " unavailable after 3 attempt(s): HTTP 500 (db down)", r.getMessage());
    assertEquals(3, requests.get());
    Rejected fast = rejected(c, 2);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, fast.reason());
    assertTrue(fast.getMessage().endsWith("(not asked again for 5.0 s)"), fast.getMessage());
    assertEquals(3, requests.get(), "within the fail-fast window the registry is not asked");
    SchemaRegistryClient slow = new SchemaRegistryClient(settings(url).timeout(Duration.ofSeconds(2)).build());
    rejected(slow, 1);
    assertTrue(rejected(slow, 2).getMessage().endsWith("(not asked again for 6.15 s)"));
    assertEquals(6, requests.get());
  }

  @Test
  void aSilentRegistryIsCutAtTheTimeoutHeadersAndBody() throws Exception {
    String url = serve((x, path, auth) -> {
      if (path.endsWith("/1")) {
        Thread.sleep(10_000); // no answer at all
      } else { // the headers, then the body a trickle
        x.sendResponseHeaders(200, 5000);
        OutputStream o = x.getResponseBody();
        o.write("{\"schema\": \"".getBytes(StandardCharsets.UTF_8));
        o.flush();
        Thread.sleep(10_000);
      }
    });
    RegistrySettings s = settings(url).timeout(Duration.ofMillis(300)).retries(1).build();
    for (int id : new int[] {1, 2}) {
      SchemaRegistryClient c = new SchemaRegistryClient(s);
      long t0 = System.nanoTime();
      Rejected r = rejected(c, id);
      Duration took = Duration.ofNanos(System.nanoTime() - t0);
      assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
      assertTrue(r.getMessage().endsWith("no complete answer within 300 ms")
          || r.getMessage().endsWith("no answer within 300 ms"), r.getMessage());
      assertTrue(took.compareTo(s.worstCaseLookup().plusMillis(700)) < 0, "id " + id + " took " + took
          + ", bound " + s.worstCaseLookup());
    }
  }

  @Test
  void anOversizedAnswerIsRefused() throws Exception {
    byte[] huge = new byte[SchemaRegistryClient.MAX_RESPONSE_BYTES + 10];
    java.util.Arrays.fill(huge, (byte) ' ');
    String url = serve((x, path, auth) -> answer(x, 200, huge));
    Rejected r = rejected(new SchemaRegistryClient(settings(url).build()), 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertTrue(r.getMessage().endsWith("sent an answer over 1048576 bytes"), r.getMessage());
  }

  /** A registry that wants {@code expected} in the Authorization header, else answers 401. */
  private String guarded(String expected) throws IOException {
    return serve((x, path, auth) -> {
      if (expected.equals(auth)) {
        schemaOk(x, path, auth);
      } else {
        answer(x, 401, recorded("unauthorized.json"));
      }
    });
  }

  @Test
  void basicAuthSendsTheUserAndThePasswordFromItsFile() throws Exception {
    String password = "s3cret-pässword";
    String url = guarded("Basic " + Base64.getEncoder().encodeToString(("trainer:" + password)
        .getBytes(StandardCharsets.UTF_8)));
    Path f = secretFile(password + "\n");
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url)
        .basic("trainer", RegistrySettings.Secret.file(f.toString())).build());
    assertEquals("com.example.SupportTicket", c.schema(1).getFullName());
  }

  @Test
  void bearerTokensComeFromAFileOrAnEnvironmentVariable() throws Exception {
    String token = System.getenv(TOKEN_ENV);
    assertTrue(token != null && !token.isBlank(), TOKEN_ENV + " is set by the operators module's surefire configuration");
    String url = guarded("Bearer " + token);
    Path f = secretFile(token);
    assertEquals("com.example.SupportTicket", new SchemaRegistryClient(settings(url)
        .bearer(RegistrySettings.Secret.file(f.toString())).build()).schema(1).getFullName());
    assertEquals("com.example.SupportTicket", new SchemaRegistryClient(settings(url)
        .bearer(RegistrySettings.Secret.environment(TOKEN_ENV)).build()).schema(1).getFullName());
    assertEquals(List.of("Bearer " + token, "Bearer " + token), authorizations);
  }

  @Test
  void refusedCredentialsAreSaidSoWithoutTheSecret() throws Exception {
    String url = guarded("Bearer the-right-token");
    Path f = secretFile("a-wrong-token");
    SchemaRegistryClient c = new SchemaRegistryClient(settings(url).bearer(RegistrySettings.Secret.file(f.toString())).build());
    Rejected r = rejected(c, 1);
    assertEquals(DeadLetterReason.REGISTRY_REFUSED_CREDENTIALS, r.reason());
    assertEquals("schema registry " + url + " refused the credentials (HTTP 401, auth bearer)", r.getMessage());
    assertEquals(1, requests.get(), "refused credentials are not retried");
    assertEquals(DeadLetterReason.REGISTRY_REFUSED_CREDENTIALS, rejected(c, 2).reason());
    assertEquals(1, requests.get(), "nor asked again at once");
  }

  @Test
  void secretsOthersCanReadOrThatAreMissingAreErrorsNamingWhereNotWhat() throws Exception {
    Path open = dir.resolve("open-token");
    Files.writeString(open, "visible-token");
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
    RegistrySettings s = settings("http://127.0.0.1:1").bearer(RegistrySettings.Secret.file(open.toString())).build();
    BonestreamException e = assertThrows(BonestreamException.class, () -> new SchemaRegistryClient(s));
    assertEquals("registry secret file " + open + " is accessible by others (mode rw-r--r--): chmod 600 it "
        + "(640 where a group must read it)", e.getMessage());
    BonestreamException missing = assertThrows(BonestreamException.class, () -> new SchemaRegistryClient(
        settings("http://127.0.0.1:1").basic("u", RegistrySettings.Secret.environment("BONESTREAM_NO_SUCH_VARIABLE"))
            .build()));
    assertEquals("environment variable BONESTREAM_NO_SUCH_VARIABLE (a registry secret) is not set", missing.getMessage());
    assertFalse(e.getMessage().contains("visible-token"));
  }

  private static SSLContext serverTls() throws Exception {
    return serverTls("server.p12");
  }

  private static SSLContext serverTls(String keystore) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(tls.resolve(keystore))) {
      ks.load(in, "server-pass".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "server-pass".toCharArray());
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), null, null);
    return ctx;
  }

  @Test
  void httpsTrustsTheTruststoreAsPemOrPkcs12() throws Exception {
    String url = serve(SchemaRegistryClientTest::schemaOk, serverTls());
    assertTrue(url.startsWith("https://127.0.0.1:"));
    assertEquals("com.example.SupportTicket", new SchemaRegistryClient(settings(url)
        .truststore(tls.resolve("ca.pem").toString()).build()).schema(1).getFullName());
    Path password = secretFile("trust-pass");
    assertEquals("com.example.SupportTicket", new SchemaRegistryClient(settings(url)
        .truststore(tls.resolve("trust.p12").toString())
        .truststorePassword(RegistrySettings.Secret.file(password.toString())).build()).schema(1).getFullName());
    // without the truststore the JVM's default trust does not know the self-signed certificate
    Rejected r = rejected(new SchemaRegistryClient(settings(url).build()), 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertTrue(r.getMessage().startsWith("schema registry " + url + ": TLS failed (does the truststore hold the "
        + "registry's CA?)"), r.getMessage());
  }

  @Test
  void aCertificateForAnotherHostIsRefusedEvenWhenTrusted() throws Exception {
    String url = serve(SchemaRegistryClientTest::schemaOk, serverTls("other.p12"));
    Rejected r = rejected(new SchemaRegistryClient(settings(url).truststore(tls.resolve("other.pem").toString())
        .build()), 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertTrue(r.getMessage().contains("TLS failed") && r.getMessage().contains("127.0.0.1"), r.getMessage());
  }

  @Test
  void redirectsAreNotFollowed() throws Exception {
    String url = serve((x, path, auth) -> {
      if (path.startsWith("/elsewhere")) {
        schemaOk(x, path, auth);
      } else {
        x.getResponseHeaders().add("Location", "/elsewhere" + path);
        x.sendResponseHeaders(302, -1);
      }
    });
    Path f = secretFile("a-token");
    Rejected r = rejected(new SchemaRegistryClient(settings(url).bearer(RegistrySettings.Secret.file(f.toString()))
        .build()), 1);
    assertEquals(DeadLetterReason.REGISTRY_UNAVAILABLE, r.reason());
    assertTrue(r.getMessage().contains("answered HTTP 302"), r.getMessage());
    assertEquals(1, requests.get(), "the credentials went nowhere else");
  }

  @Test
  void aTruststoreThatIsNeitherPemNorPkcs12IsAnError() throws Exception {
    Path junk = dir.resolve("junk.pem");
    Files.writeString(junk, "not a certificate");
    BonestreamException e = assertThrows(BonestreamException.class, () -> new SchemaRegistryClient(
        settings("https://127.0.0.1:1").truststore(junk.toString()).build()));
    assertTrue(e.getMessage().startsWith("registry truststore " + junk + " is neither PEM certificates nor a PKCS12"),
        e.getMessage());
  }
}
