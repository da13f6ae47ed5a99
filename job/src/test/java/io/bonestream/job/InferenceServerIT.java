package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.serve.InferenceServer;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterSubscriber;
import io.bonestream.subscriber.SubscriberMetrics;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reference inference service over HTTP, hot-swapping versions from a real broker. */
class InferenceServerIT {
  private static final String TOKEN = "test-admin-token-0123456789";
  @TempDir Path tmp;
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpResponse<String> call(int port, String method, String path, String body, String token)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private String complete(int port, String model) throws Exception {
    HttpResponse<String> r = call(port, "POST", "/v1/completions", "{\"model\": \"" + model
        + "\", \"prompt\": \"Jack has a blue kite. What color is the kite?\", \"max_tokens\": 6, \"temperature\": 0}", null);
    assertEquals(200, r.statusCode(), r.body());
    return Json.MAPPER.readTree(r.body()).get("choices").get(0).get("text").asText();
  }

  @Test
  void pinChangesTheAnswerAtOnceAndUnpinReturnsToLatest() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      kafka.createTopic("serve", 1, true);
      BaseModel base = BaseModel.load(TestFiles.stories260K());
      try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
        Manifests m = new Manifests(base, tok, "kids", AdapterMethod.BAT);
        Manifests.publish(kafka.bootstrapServers(), "serve", m.next(1, 0), m.next(2, 12));
        AdapterRegistry registry = AdapterRegistry.builder().build();
        SubscriberMetrics metrics = SubscriberMetrics.create(registry);
        try (AdapterSubscriber s = AdapterSubscriber.builder().allowUnsigned(true).bootstrapServers(kafka.bootstrapServers())
                .topic("serve").baseModel(base.host()).registry(registry).metrics(metrics).build().start();
            InferenceServer server = InferenceServer.builder().baseModel(base).tokenizer(tok).registry(registry)
                .metrics(metrics).adminToken(TOKEN).readiness(s::isReady).port(0).build()) {
          assertTrue(s.awaitReady(Duration.ofSeconds(60)));
          int port = server.port();
          String latest = complete(port, "kids");
          String first = complete(port, "kids@1");
          String plain = complete(port, base.name());
          assertNotEquals(latest, first, "versions 1 (untrained) and 2 answer alike");
          assertEquals(plain, first, "version 1 is the zero adapter: it answers as the base model");

          assertEquals(401, call(port, "POST", "/admin/pin", "{\"adapter\":\"kids\",\"version\":1}", "wrong").statusCode());
          assertEquals(200, call(port, "POST", "/admin/pin", "{\"adapter\":\"kids\",\"version\":1}", TOKEN).statusCode());
          assertEquals(first, complete(port, "kids"), "pinned: the alias serves version 1");
          JsonNode models = Json.MAPPER.readTree(call(port, "GET", "/v1/models", null, null).body());
          assertTrue(models.toString().contains("\"kids@2\"") && models.toString().contains("\"kids@1\""), models.toString());
          assertEquals(200, call(port, "POST", "/admin/unpin", "{\"adapter\":\"kids\"}", TOKEN).statusCode());
          assertEquals(latest, complete(port, "kids"), "unpinned: back to the latest");

          // bad requests: 4xx JSON errors, never a 500
          assertEquals(404, call(port, "POST", "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}", null).statusCode());
          assertEquals(400, call(port, "POST", "/v1/completions", "{\"model\":\"kids\"}", null).statusCode());
          assertEquals(400, call(port, "POST", "/v1/completions", "not json", null).statusCode());
          assertEquals(400, call(port, "POST", "/v1/completions", "{\"model\":\"kids\",\"prompt\":\"x\",\"top_p\":7}", null).statusCode());
          assertEquals(405, call(port, "GET", "/v1/completions", null, null).statusCode());
          assertEquals(404, call(port, "POST", "/admin/pin", "{\"adapter\":\"kids\",\"version\":9}", TOKEN).statusCode());
          HttpResponse<String> err = call(port, "POST", "/v1/completions", "{\"model\":\"nope\",\"prompt\":\"x\"}", null);
          assertEquals("model_not_found", Json.MAPPER.readTree(err.body()).get("error").get("type").asText());
          assertEquals(200, call(port, "GET", "/healthz", null, null).statusCode());
          assertEquals(200, call(port, "GET", "/readyz", null, null).statusCode());
          assertTrue(call(port, "GET", "/metrics", null, null).body().contains("bonestream_subscriber_adapter_version"));
        }
      }
    }
  }

  @Test
  void adminEndpointsAreOffWithoutAToken() throws Exception {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config());
        InferenceServer server = InferenceServer.builder().baseModel(base).tokenizer(tok)
            .registry(AdapterRegistry.builder().build()).port(0).build()) {
      assertEquals(404, call(server.port(), "POST", "/admin/pin", "{\"adapter\":\"a\",\"version\":1}", "anything").statusCode());
      assertEquals(200, call(server.port(), "GET", "/v1/models", null, null).statusCode());
    }
  }

  @Test
  void malformedAndHostileRequestsGetA4xxJsonErrorAndTheServerStaysUp() throws Exception {
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config());
        InferenceServer server = InferenceServer.builder().baseModel(base).tokenizer(tok)
            .registry(AdapterRegistry.builder().build()).adminToken(TOKEN).port(0).build()) {
      int port = server.port();
      String m = "\"model\":\"" + base.name() + "\",\"prompt\":\"Hi\"";
      java.util.List<String> bodies = new java.util.ArrayList<>(java.util.List.of(
          "", "{", "[]", "null", "42", "\"x\"", "{\"model\":", "{\"model\":1,\"prompt\":\"x\"}",
          "{" + m + ",\"max_tokens\":100000000}", "{" + m + ",\"max_tokens\":-1}", "{" + m + ",\"max_tokens\":1.5}",
          "{" + m + ",\"max_tokens\":1e99}", "{" + m + ",\"temperature\":-1}", "{" + m + ",\"temperature\":NaN}",
          "{" + m + ",\"top_p\":0}", "{" + m + ",\"top_p\":\"0.5\"}", "{" + m + ",\"seed\":\"x\"}",
          "{" + m + ",\"frobnicate\":true}", "{" + m + ",\"stream\":true}", "{" + m + ",\"n\":3}",
          "{\"model\":\"nope@x\",\"prompt\":\"x\"}", "{\"model\":\"" + "x".repeat(100_000) + "\",\"prompt\":\"x\"}",
          "{" + m + ",\"prompt\":[1,2]}", "\u0000\u0001\u0002", "{\"a\":" + "[".repeat(5000) + "]".repeat(5000) + "}",
          "{" + m + ",\"max_tokens\":" + "9".repeat(400) + "}"));
      bodies.add("{\"x\":\"" + "y".repeat(InferenceServer.MAX_BODY_BYTES + 10) + "\"}");
      // the fixed list: every one is a client error
      for (String body : bodies) {
        assertClientError(call(port, "POST", "/v1/completions", body, null), body);
      }
      java.util.Random random = new java.util.Random(7);
      int refused = 0;
      for (int i = 0; i < 200; i++) { // mutated good requests: some stay valid, the rest are client errors
        byte[] b = ("{" + m + ",\"max_tokens\":2}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        b[random.nextInt(b.length)] = (byte) random.nextInt(256);
        String body = new String(b, java.nio.charset.StandardCharsets.ISO_8859_1);
        HttpResponse<String> r = call(port, "POST", "/v1/completions", body, null);
        if (r.statusCode() != 200) {
          assertClientError(r, body);
          refused++;
        }
      }
      assertTrue(refused > 100, "only " + refused + " of 200 byte mutations refused");
      for (String path : java.util.List.of("/admin/pin", "/admin/unpin")) {
        assertEquals(400, call(port, "POST", path, "{\"adapter\":", TOKEN).statusCode());
      }
      assertEquals(413, call(port, "POST", "/v1/completions",
          "{\"x\":\"" + "y".repeat(InferenceServer.MAX_BODY_BYTES + 10) + "\"}", null).statusCode());
      assertEquals(404, call(port, "GET", "/nope/../../etc/passwd", null, null).statusCode());
      assertEquals(405, call(port, "DELETE", "/v1/models", null, null).statusCode());
      // still serving
      assertEquals(200, call(port, "POST", "/v1/completions", "{" + m + ",\"max_tokens\":2,\"temperature\":0}",
          null).statusCode());
      assertEquals(200, call(port, "GET", "/healthz", null, null).statusCode());
    }
  }

  private static void assertClientError(HttpResponse<String> r, String body) throws Exception {
    assertTrue(r.statusCode() >= 400 && r.statusCode() < 500, r.statusCode() + " for " + abbreviate(body)
        + ": " + r.body());
    assertTrue(Json.MAPPER.readTree(r.body()).path("error").path("message").isTextual(), r.body());
  }

  private static String abbreviate(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }
}
