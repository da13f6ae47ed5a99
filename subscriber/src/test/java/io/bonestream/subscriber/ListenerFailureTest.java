package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A listener that throws (say, an export on a full disk) neither refuses the version nor silences the others. */
@Timeout(60)
class ListenerFailureTest {
  @Test
  void aFailingListenerLeavesTheVersionServedAndTheOthersTold() {
    AdapterConfig config = AdapterConfig.builder().r(4).build();
    AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE)
        .allowUnsigned(true).build();
    List<AdapterUpdate> heard = new ArrayList<>();
    s.addListener(u -> {
      throw new IllegalStateException("the disk is full");
    });
    s.addListener(heard::add);
    s.apply(TestManifests.record(TestManifests.inline("a", 1, config, TestModels.files(config, 1)), 0));
    assertEquals(1, heard.size(), "heard: " + heard);
    assertTrue(heard.get(0) instanceof AdapterUpdate.Accepted, "not accepted: " + heard.get(0));
    assertEquals(1, s.registry().resolve("a").orElseThrow().version(), "the version is not served");
  }
}
