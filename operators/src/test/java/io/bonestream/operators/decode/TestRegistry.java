package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A real schema registry for tests: Apicurio Registry's distribution (unpacked by the operators
 * module's build, {@code unpack-test-registry}) run as a child JVM on a free loopback port with
 * in-memory storage, its Confluent-compatible API at {@link #url()}. Started within a deadline
 * (its log is in the failure), stopped with {@link #close()}.
 */
public final class TestRegistry implements AutoCloseable {
  private static final Duration START_DEADLINE = Duration.ofSeconds(120);

  private final Process process;
  private final Path log;
  private final String url;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private TestRegistry(Process process, Path log, String url) {
    this.process = process;
    this.log = log;
    this.url = url;
  }

  /** Starts the registry and waits until its Confluent API answers. */
  public static TestRegistry start() throws Exception {
    String jarProperty = System.getProperty("bonestream.test.registry.jar");
    if (jarProperty == null || !Files.isRegularFile(Path.of(jarProperty))) {
      throw new AssertionError("Apicurio Registry's runnable jar is not at " + jarProperty + ": run the tests through "
          + "Maven, whose operators build unpacks io.apicurio:apicurio-registry-app:zip:all (execution "
          + "unpack-test-registry; online once, then from the local Maven repository; after deleting "
          + "target/test-registry by hand, build with clean: the plugin's marker says it is unpacked)");
    }
    Path jar = Path.of(jarProperty);
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path log = Files.createTempFile("test-registry-", ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dquarkus.http.port=" + port, "-Dquarkus.http.host=127.0.0.1", "-Dquarkus.log.level=WARN",
        "-jar", jar.toString()))
        .directory(jar.getParent().toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile())
        .start();
    // a test JVM that ends without the test's close (a fork timeout) takes the registry with it
    Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly, "test-registry-stop"));
    TestRegistry r = new TestRegistry(p, log, "http://127.0.0.1:" + port + "/apis/ccompat/v7");
    long deadline = System.nanoTime() + START_DEADLINE.toNanos();
    while (true) {
      if (!p.isAlive()) {
        throw new AssertionError("Apicurio Registry exited with " + p.exitValue() + ":\n" + r.logTail());
      }
      try {
        if (r.http.send(HttpRequest.newBuilder(URI.create(r.url + "/subjects")).timeout(Duration.ofSeconds(2)).build(),
            HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return r;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      if (System.nanoTime() > deadline) {
        r.close();
        throw new AssertionError("Apicurio Registry did not answer within " + START_DEADLINE.toSeconds() + " s:\n"
            + r.logTail());
      }
      Thread.sleep(200);
    }
  }

  /** The root of the Confluent-compatible API. */
  public String url() {
    return url;
  }

  /** Registers an Avro schema under {@code subject}; its id. */
  public int register(String subject, String schema) throws Exception {
    return register(subject, schema, null);
  }

  /** Registers a schema of {@code type} (null: Avro) under {@code subject}; its id. */
  int register(String subject, String schema, String type) throws Exception {
    return register(subject, type == null ? Map.of("schema", schema) : Map.of("schema", schema, "schemaType", type));
  }

  /** Registers an Avro schema naming {@code type}, which is version 1 of {@code typeSubject}; its id. */
  int registerReferencing(String subject, String schema, String type, String typeSubject) throws Exception {
    return register(subject, Map.of("schema", schema, "references",
        List.of(Map.of("name", type, "subject", typeSubject, "version", 1))));
  }

  private int register(String subject, Map<String, ?> body) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/subjects/" + subject + "/versions"))
        .timeout(Duration.ofSeconds(20))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .POST(HttpRequest.BodyPublishers.ofString(Json.MAPPER.writeValueAsString(body))).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new AssertionError("registering " + subject + ": HTTP " + r.statusCode() + " " + r.body());
    }
    JsonNode n = Json.MAPPER.readTree(r.body());
    return n.get("id").asInt();
  }

  /** A GET of the API, as the registry answers it (status and body). */
  HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  String logTail() {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** Stops the registry (a kill if it does not end within 10 s). */
  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
    try {
      Files.deleteIfExists(log);
    } catch (IOException e) {
      // a temporary file
    }
  }
}
