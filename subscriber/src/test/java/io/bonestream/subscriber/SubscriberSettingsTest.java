package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.schemas.SigningKeys;
import org.junit.jupiter.api.Test;

/** The subscriber's settings: either trusted keys or unsigned manifests, never neither, never both. */
class SubscriberSettingsTest {
  private static AdapterSubscriber.Builder builder() {
    return AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(S3BlobFetcherIT.BASE);
  }

  @Test
  void trustedKeysAndUnsignedManifestsExcludeEachOther() {
    BonestreamException both = assertThrows(BonestreamException.class, () -> builder()
        .trustedKey(SigningKeys.generate().getPublic()).allowUnsigned(true).build());
    assertTrue(both.getMessage().contains("exclude each other"), both.getMessage());
    BonestreamException neither = assertThrows(BonestreamException.class, () -> builder().build());
    assertTrue(neither.getMessage().contains("trusted public keys"), neither.getMessage());
    builder().trustedKey(SigningKeys.generate().getPublic()).build();
    builder().allowUnsigned(true).build();
  }

  @Test
  @org.junit.jupiter.api.Timeout(30)
  void aBrokerThatDoesNotAnswerIsSaidSoWithinTheClientsTimeout() throws Exception {
    String nobody;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      nobody = "localhost:" + socket.getLocalPort(); // closed again: nothing listens there
    }
    java.util.Properties client = new java.util.Properties();
    client.put("default.api.timeout.ms", "2000");
    try (AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers(nobody).baseModel(S3BlobFetcherIT.BASE)
        .allowUnsigned(true).kafkaProperties(client).build()) {
      BonestreamException e = assertThrows(BonestreamException.class, s::start);
      org.junit.jupiter.api.Assertions.assertEquals("no answer from Kafka at " + nobody
          + " within 2 s (topic bonestream.adapters)", e.getMessage());
    }
  }
}
