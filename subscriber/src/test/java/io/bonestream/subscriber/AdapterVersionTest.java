package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.peft.PeftAdapter;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A version the subscriber verified: its tensors are the published ones, read from its bytes when asked for. */
@Timeout(30)
class AdapterVersionTest {
  @Test
  void aVerifiedVersionsTensorsAreReadFromItsBytesAtEachCallNotKeptBesideThem() {
    AdapterConfig config = AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build();
    AdapterSubscriber s = AdapterSubscriber.builder().bootstrapServers("unused:9092").baseModel(TestModels.BASE)
        .allowUnsigned(true).build();
    s.apply(TestManifests.record(TestManifests.inline("a", 1, config, TestModels.files(config, 1)), 0));
    AdapterVersion v = s.registry().latest("a").orElseThrow();
    Map<String, HostTensor> published = TestModels.adapter(config, 1).tensors();
    Map<String, HostTensor> read = v.adapter().tensors();
    assertEquals(published.keySet(), read.keySet());
    published.forEach((k, t) -> assertArrayEquals(t.toFloats(), read.get(k).toFloats(), k));
    PeftAdapter again = v.adapter();
    // a version holds its bytes only (an adapter's floats beside them would double its memory or more)
    assertNotSame(read.values().iterator().next().floats(), again.tensors().values().iterator().next().floats());
  }
}
