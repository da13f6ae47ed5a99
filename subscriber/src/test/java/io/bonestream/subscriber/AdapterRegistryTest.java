package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.schemas.TrainingStats;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdapterRegistryTest {

  private static AdapterVersion version(String id, long v) {
    return new AdapterVersion(id, v, Instant.now(), "bat", 4, List.of("q_proj"),
        TrainingStats.newBuilder().setStep(v).setTokens(0).setExamples(0).setSkippedSteps(0)
            .setLastLoss(0).setLossEma(0).build(), TestModels.adapter(AdapterConfig.builder().r(4).build(), v),
        TestModels.BASE, "{}", new byte[0]);
  }

  private static List<Long> held(AdapterRegistry r, String id) {
    return r.versions(id).stream().map(AdapterVersion::version).toList();
  }

  @Test
  void keepsTheLastKAndResolvesAliasesAndExactVersions() {
    AdapterRegistry r = AdapterRegistry.builder().keep(2).build();
    for (long v = 1; v <= 4; v++) {
      r.accept(version("a", v));
    }
    assertEquals(List.of(3L, 4L), held(r, "a"));
    assertEquals(4, r.resolve("a").orElseThrow().version());
    assertEquals(3, r.resolve("a@3").orElseThrow().version());
    assertTrue(r.resolve("a@1").isEmpty());
    assertTrue(r.resolve("a@x").isEmpty());
    assertTrue(r.resolve("b").isEmpty());
  }

  @Test
  void aPinnedVersionServesTheAliasAndSurvivesPruning() {
    AdapterRegistry r = AdapterRegistry.builder().keep(2).build();
    r.accept(version("a", 3));
    r.accept(version("a", 4));
    r.pin("a", 3);
    r.accept(version("a", 5));
    assertEquals(List.of(3L, 5L), held(r, "a"), "the pinned 3 stays, 4 goes");
    assertEquals(3, r.resolve("a").orElseThrow().version());
    assertEquals(5, r.latest("a").orElseThrow().version());
    r.unpin("a");
    assertEquals(5, r.resolve("a").orElseThrow().version());
    BonestreamException e = assertThrows(BonestreamException.class, () -> r.pin("a", 4));
    assertTrue(e.getMessage().contains("not held"), e.getMessage());
  }

  @Test
  void metricsAreServedOverHttp() throws Exception {
    AdapterRegistry r = AdapterRegistry.builder().build();
    r.accept(version("served", 7));
    SubscriberMetrics m = SubscriberMetrics.create(r);
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      port = s.getLocalPort();
    }
    try (AutoCloseable server = m.serve(port)) {
      String page = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
          java.net.URI.create("http://localhost:" + port + "/metrics")).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(page.contains("bonestream_subscriber_adapter_version{adapter=\"served\"} 7.0"), page);
      // loopback only: this machine's other addresses get no answer
      for (java.net.InetAddress a : nonLoopbackAddresses()) {
        try (java.net.Socket s = new java.net.Socket()) {
          assertThrows(java.io.IOException.class, () -> s.connect(new java.net.InetSocketAddress(a, port), 2000),
              "metrics reachable on " + a);
        }
      }
    }
  }

  private static List<java.net.InetAddress> nonLoopbackAddresses() throws java.net.SocketException {
    List<java.net.InetAddress> out = new ArrayList<>();
    for (java.net.NetworkInterface n : java.util.Collections.list(java.net.NetworkInterface.getNetworkInterfaces())) {
      for (java.net.InetAddress a : java.util.Collections.list(n.getInetAddresses())) {
        if (!a.isLoopbackAddress() && a instanceof java.net.Inet4Address && n.isUp()) {
          out.add(a);
        }
      }
    }
    return out;
  }

  @Test
  void listenersHearAcceptedAndOutOfOrderVersions() {
    AdapterRegistry r = AdapterRegistry.builder().build();
    List<AdapterUpdate> events = new ArrayList<>();
    r.addListener(events::add);
    r.accept(version("a", 2));
    r.accept(version("a", 1));
    r.refuse("a", 3, RefusalReason.TAMPERED, "bad bytes");
    assertTrue(events.get(0) instanceof AdapterUpdate.Accepted);
    assertEquals(RefusalReason.OUT_OF_ORDER, ((AdapterUpdate.Refused) events.get(1)).reason());
    assertEquals(RefusalReason.TAMPERED, ((AdapterUpdate.Refused) events.get(2)).reason());
    assertEquals(List.of(2L), held(r, "a"));
  }
}
