package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.serve.InferenceServer;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.SubscriberMetrics;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inference server under hostile load: slow clients, huge prompts, floods, no token. Each
 * bound here fails on a server without it (see docs/security.md).
 */
class ServeLimitsIT {
  private static final String API_TOKEN = "test-api-token-0123456789";
  private static BaseModel base;
  private static Tokenizer tokenizer;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void load() {
    base = BaseModel.load(TestFiles.stories260K());
    tokenizer = Tokenizer.load(TestFiles.stories260K(), base.config());
  }

  @AfterAll
  static void close() {
    tokenizer.close();
  }

  private static InferenceServer server(BaseModel model, Consumer<InferenceServer.Builder> settings) {
    InferenceServer.Builder b = InferenceServer.builder().baseModel(model).tokenizer(tokenizer)
        .registry(AdapterRegistry.builder().build()).port(0);
    settings.accept(b);
    return b.build();
  }

  private static String completion(String model, String prompt, int maxTokens) {
    ObjectNode n = Json.MAPPER.createObjectNode().put("model", model).put("prompt", prompt)
        .put("max_tokens", maxTokens).put("temperature", 0);
    return Json.toCompactString(n);
  }

  private HttpResponse<String> post(int port, String body, String token, Duration timeout) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
        .timeout(timeout).POST(HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> get(int port, String path, String token) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Bytes allocated on the heap so far by the server's worker threads. */
  private static long serverThreadsAllocated() {
    var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long sum = 0;
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("bonestream-serve-")) {
        sum += Math.max(0, mx.getThreadAllocatedBytes(t.getId()));
      }
    }
    return sum;
  }

  @Test
  void fourSlowClientsDoNotDelayAFifthAndAreCutOffAtTheTimeout() throws Exception {
    try (InferenceServer server = server(base, b -> b.requestTimeout(Duration.ofSeconds(2)))) {
      int port = server.port();
      String body = completion(base.name(), "Once upon a time", 4);
      long normal = 0;
      for (int i = 0; i < 3; i++) { // warm up, then the slowest of three
        long t0 = System.nanoTime();
        assertEquals(200, post(port, body, null, Duration.ofSeconds(30)).statusCode());
        normal = i == 0 ? 0 : Math.max(normal, System.nanoTime() - t0);
      }
      List<Socket> slow = new ArrayList<>();
      try {
        for (int i = 0; i < 2; i++) { // half a body, then silence
          Socket s = new Socket("127.0.0.1", port);
          OutputStream out = s.getOutputStream();
          out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + body.length() + "\r\n\r\n" + body.substring(0, body.length() / 2)).getBytes(StandardCharsets.UTF_8));
          out.flush();
          slow.add(s);
        }
        for (int i = 0; i < 2; i++) { // half the headers, then silence
          Socket s = new Socket("127.0.0.1", port);
          s.getOutputStream().write("POST /v1/completions HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.UTF_8));
          s.getOutputStream().flush();
          slow.add(s);
        }
        Thread.sleep(300); // the four hold whatever they hold
        long t0 = System.nanoTime();
        HttpResponse<String> fifth = post(port, body, null, Duration.ofSeconds(30));
        long took = System.nanoTime() - t0;
        assertEquals(200, fifth.statusCode(), fifth.body());
        assertTrue(took < 3 * normal + 500_000_000L, "the fifth request took " + took / 1_000_000 + " ms, "
            + "normally " + normal / 1_000_000 + " ms");
        assertEquals(200, get(port, "/healthz", null).statusCode());
        // each slow client is disconnected after the 2 s request timeout (not held forever)
        for (Socket s : slow) {
          s.setSoTimeout(15_000);
          long c0 = System.nanoTime();
          InputStream in = s.getInputStream();
          int read;
          try {
            while ((read = in.read()) >= 0) { } // a 4xx or nothing, then the end
          } catch (java.net.SocketException reset) {
            read = -1;
          }
          assertEquals(-1, read);
          assertTrue(System.nanoTime() - c0 < 10_000_000_000L, "a slow client was held over 10 s");
        }
      } finally {
        for (Socket s : slow) {
          s.close();
        }
      }
    }
  }

  @Test
  void aHundredThousandTokenPromptIsRefusedAtOnceWithFlatMemory(@TempDir Path tmp) throws Exception {
    // the same model with a context that would allow the prompt: only the server's cap stops it
    Path dir = tmp.resolve("long-context");
    Files.createDirectories(dir);
    try (var files = Files.list(TestFiles.stories260K())) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    ObjectNode cfg = (ObjectNode) Json.readTree(dir.resolve("config.json"));
    cfg.put("max_position_embeddings", 262_144);
    Files.writeString(dir.resolve("config.json"), Json.toCompactString(cfg));
    BaseModel longContext = BaseModel.load(dir);
    assertEquals(262_144, ModelConfig.read(dir).maxPositionEmbeddings());
    String prompt = "a ".repeat(100_000);
    assertTrue(tokenizer.encode(prompt).length >= 100_000, "the prompt is not 100k tokens");
    try (InferenceServer server = server(longContext, b -> b.maxPromptTokens(64).maxTokens(8))) {
      int port = server.port();
      long allocated = serverThreadsAllocated();
      long t0 = System.nanoTime();
      HttpResponse<String> r = post(port, completion(longContext.name(), prompt, 4), null, Duration.ofSeconds(60));
      long took = System.nanoTime() - t0;
      long grew = serverThreadsAllocated() - allocated;
      assertEquals(400, r.statusCode(), r.body());
      assertTrue(r.body().contains("the most this server takes"), r.body());
      assertTrue(took < 2_000_000_000L, "refused after " + took / 1_000_000 + " ms");
      // the body (200 kB) and its parse; no activations, no score matrix (100k² would be 40 GB)
      assertTrue(grew < 32L << 20, "the server allocated " + (grew >> 20) + " MiB for it");

      // a prompt under the character bound but over the token cap: tokenized, then refused
      HttpResponse<String> over = post(port, completion(longContext.name(), "a ".repeat(80), 4), null, Duration.ofSeconds(30));
      assertEquals(400, over.statusCode(), over.body());
      assertTrue(over.body().contains("tokens: over 64"), over.body());
      // at the caps: served
      assertEquals(200, post(port, completion(longContext.name(), "a ".repeat(30), 8), null, Duration.ofSeconds(30)).statusCode());
      assertEquals(400, post(port, completion(longContext.name(), "a", 9), null, Duration.ofSeconds(30)).statusCode());
    }
  }

  @Test
  void aFloodIsAnswered429WhileTheServerStaysUp() throws Exception {
    SubscriberMetrics metrics = SubscriberMetrics.create(AdapterRegistry.builder().build());
    try (InferenceServer server = server(base, b -> b.concurrency(1).queue(2).metrics(metrics))) {
      int port = server.port();
      String body = completion(base.name(), "Once upon a time", 300);
      List<CompletableFuture<HttpResponse<String>>> flood = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        flood.add(http.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
            .timeout(Duration.ofSeconds(90)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
            HttpResponse.BodyHandlers.ofString()));
      }
      long t0 = System.nanoTime();
      assertEquals(200, get(port, "/healthz", null).statusCode());
      assertTrue(System.nanoTime() - t0 < 2_000_000_000L, "/healthz slow during the flood");
      int ok = 0;
      int busy = 0;
      for (CompletableFuture<HttpResponse<String>> f : flood) {
        HttpResponse<String> r = f.get();
        if (r.statusCode() == 200) {
          ok++;
        } else {
          assertTrue(r.statusCode() == 429 || r.statusCode() == 503, r.statusCode() + ": " + r.body());
          if (r.statusCode() == 429) {
            assertEquals("1", r.headers().firstValue("Retry-After").orElse(""));
          }
          busy++;
        }
      }
      assertTrue(ok >= 1 && busy >= 20, ok + " served, " + busy + " refused");
      assertEquals(200, post(port, completion(base.name(), "Hi", 2), null, Duration.ofSeconds(30)).statusCode());
      assertTrue(metrics.scrape().contains("bonestream_serve_requests_refused_total{reason=\"busy\"}"), metrics.scrape());
    }
  }

  @Test
  void withAnApiTokenCompletionsModelsAndStatusNeedIt() throws Exception {
    try (InferenceServer server = server(base, b -> b.apiToken(API_TOKEN))) {
      int port = server.port();
      String body = completion(base.name(), "Hi", 2);
      assertEquals(401, post(port, body, null, Duration.ofSeconds(10)).statusCode());
      assertEquals(401, post(port, body, "wrong-token-0123456789", Duration.ofSeconds(10)).statusCode());
      assertEquals(200, post(port, body, API_TOKEN, Duration.ofSeconds(30)).statusCode());
      assertEquals(401, get(port, "/v1/models", null).statusCode());
      assertEquals(200, get(port, "/v1/models", API_TOKEN).statusCode());
      assertEquals(401, get(port, "/status.json", null).statusCode());
      assertEquals(200, get(port, "/status.json", API_TOKEN).statusCode());
      // probes and scrapes stay open; the page itself holds no data
      assertEquals(200, get(port, "/healthz", null).statusCode());
      assertEquals(200, get(port, "/readyz", null).statusCode());
      assertEquals(200, get(port, "/metrics", null).statusCode());
      assertEquals(200, get(port, "/", null).statusCode());
    }
  }
}
