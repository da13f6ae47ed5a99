package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.TrainingStats;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The status page of {@code serve} in a real headless browser: it renders every adapter with its
 * versions, plots one point per version and series, shows a refusal, and a pin made through the
 * admin API shows up. Screenshots go to {@code job/target/screenshots/}.
 */
class StatusPageIT {
  private static final String TOKEN = "status-page-admin-token-0123";
  @TempDir Path tmp;

  private static AdapterSnapshot withLoss(AdapterSnapshot s, double loss, Double eval) {
    TrainingStats st = TrainingStats.newBuilder(s.getStats()).setLastLoss(loss * 1.1).setLossEma(loss)
        .setEvalLoss(eval).build();
    return AdapterSnapshot.newBuilder(s).setStats(st).build();
  }

  private static int count(String html, String regex) {
    Matcher m = Pattern.compile(regex).matcher(html);
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }

  /** The HTML of one adapter's card. */
  private static String card(String dom, String id) {
    int start = dom.indexOf("id=\"card-" + id + "\"");
    assertTrue(start >= 0, "no card for " + id + " in:\n" + dom);
    int end = dom.indexOf("class=\"card\"", start + 10);
    return dom.substring(start, end < 0 ? dom.length() : end);
  }

  @Test
  void theStatusPageShowsVersionsPlotsAndPins() throws Exception {
    HeadlessChromium browser = HeadlessChromium.require(tmp);
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, tmp.resolve("kafka"), true)) {
      kafka.createTopic("status", 1, true);
      BaseModel base = BaseModel.load(TestFiles.stories260K());
      try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config())) {
        Manifests colors = new Manifests(base, tok, "colors", AdapterMethod.BAT);
        Manifests sounds = new Manifests(base, tok, "sounds", AdapterMethod.BONE);
        AdapterSnapshot bad = AdapterSnapshot.newBuilder(sounds.next(3, 2))
            .setBaseModel(io.bonestream.schemas.BaseModelRef.newBuilder().setName("other").setWeightsSha256("0".repeat(64)).build())
            .build();
        Manifests.publish(kafka.bootstrapServers(), "status",
            withLoss(colors.next(1, 0), 3.2, null), withLoss(colors.next(2, 4), 2.1, 2.4),
            withLoss(colors.next(3, 4), 1.4, 1.9), withLoss(colors.next(4, 4), 0.9, 1.5),
            withLoss(sounds.next(1, 0), 4.0, null), withLoss(sounds.next(2, 4), 2.5, null), bad);
        AdapterRegistry registry = AdapterRegistry.builder().keep(2).build();
        SubscriberMetrics metrics = SubscriberMetrics.create(registry);
        try (InferenceServer server = InferenceServer.builder().baseModel(base).tokenizer(tok).registry(registry)
                .metrics(metrics).adminToken(TOKEN).port(0).build();
            AdapterSubscriber s = AdapterSubscriber.builder().allowUnsigned(true).bootstrapServers(kafka.bootstrapServers())
                .topic("status").baseModel(base.host()).registry(registry).metrics(metrics).build().start()) {
          assertTrue(s.awaitReady(Duration.ofSeconds(60)));
          String url = "http://localhost:" + server.port() + "/";

          JsonNode status = Json.MAPPER.readTree(HttpClient.newHttpClient().send(
              HttpRequest.newBuilder(URI.create(url + "status.json")).build(),
              HttpResponse.BodyHandlers.ofString()).body());
          assertEquals(2, status.get("adapters").size(), status.toString());
          JsonNode c = status.get("adapters").get(0);
          assertEquals("colors", c.get("id").asText());
          assertEquals(4, c.get("points").size(), "every accepted version, not only the 2 held");
          assertEquals("[3,4]", c.get("held").toString());

          String dom = browser.dumpDom(url, 4000);
          assertTrue(dom.contains("caught up"), dom);
          String colorsCard = card(dom, "colors");
          // 4 versions × 2 series (EMA, last step) + 3 eval-loss points
          assertEquals(11, count(colorsCard, "class=\"point\""), colorsCard);
          assertEquals(3, count(colorsCard, "data-series=\"[a-z_]+\""), colorsCard);
          assertEquals(4, count(card(dom, "sounds"), "class=\"point\""));
          assertTrue(dom.contains("1 (last: v3 BASE_MODEL_MISMATCH)"), dom);
          assertTrue(dom.matches("(?s).*id=\"row-colors\".*?class=\"serving\">v4<.*"), dom);
          browser.screenshot(url, Path.of("target/screenshots/status-page.png"), 1280, 900, 4000);

          HttpResponse<String> pin = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
              URI.create("http://localhost:" + server.port() + "/admin/pin"))
              .header("Authorization", "Bearer " + TOKEN)
              .POST(HttpRequest.BodyPublishers.ofString("{\"adapter\": \"colors\", \"version\": 3}")).build(),
              HttpResponse.BodyHandlers.ofString());
          assertEquals(200, pin.statusCode(), pin.body());
          String pinned = browser.dumpDom(url, 4000);
          assertTrue(pinned.matches("(?s).*id=\"row-colors\".*?class=\"serving\">v3<.*?pinned v3.*"), pinned);
          browser.screenshot(url, Path.of("target/screenshots/status-page-pinned.png"), 1280, 900, 4000);
        }
      }
    }
  }

  /** With an API token the page reads it from its URL fragment; without it, it says so. */
  @Test
  void withAnApiTokenThePageNeedsItInItsFragment() throws Exception {
    HeadlessChromium browser = HeadlessChromium.require(tmp);
    BaseModel base = BaseModel.load(TestFiles.stories260K());
    String apiToken = "status-page-api-token-0123456789";
    try (Tokenizer tok = Tokenizer.load(TestFiles.stories260K(), base.config());
        InferenceServer server = InferenceServer.builder().baseModel(base).tokenizer(tok)
            .registry(AdapterRegistry.builder().build()).apiToken(apiToken).port(0).build()) {
      String url = "http://localhost:" + server.port() + "/";
      String without = browser.dumpDom(url, 4000);
      // the badge, not the script's text (dump-dom holds both)
      assertTrue(without.contains("id=\"ready\" class=\"badge bad\">needs the API token"), without);
      String with = browser.dumpDom(url + "#token=" + apiToken, 4000);
      assertTrue(with.contains("id=\"ready\" class=\"badge ok\">caught up<"), with);
    }
  }
}
