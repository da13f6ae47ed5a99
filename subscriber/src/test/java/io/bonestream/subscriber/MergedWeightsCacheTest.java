package io.bonestream.subscriber;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.RandomModels;
import io.bonestream.engine.util.Rng;
import io.bonestream.schemas.TrainingStats;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class MergedWeightsCacheTest {
  private static final BaseModel BASE = RandomModels.model(RandomModels.tinyConfig("llama", 1), DataType.FLOAT, false, 1);

  private static AdapterVersion version(long v) {
    AdapterSet set = AdapterSet.create(BASE, AdapterConfig.builder().r(4).build(), new Rng(v));
    return new AdapterVersion("a", v, Instant.now(), "bat", 4, List.of("q_proj"),
        TrainingStats.newBuilder().setStep(v).setTokens(0).setExamples(0).setSkippedSteps(0)
            .setLastLoss(0).setLossEma(0).build(), set, BASE, "{}", new byte[0]);
  }

  /** Bytes of one merged copy, counted independently of the cache: every targeted weight. */
  private static long copyBytes(AdapterVersion v) {
    long n = 0;
    for (INDArray w : v.adapters().mergedWeights().values()) {
      n += w.length() * 4;
    }
    return n;
  }

  @Test
  void keepsTheMostRecentCopiesWithinItsBudget() {
    long one = copyBytes(version(1));
    assertTrue(one > 0);
    MergedWeightsCache cache = new MergedWeightsCache(one * 5 / 2); // room for two copies
    AdapterVersion v1 = version(1);
    BaseModel m1 = cache.get(v1);
    assertSame(m1, cache.get(v1), "a cached copy is reused");
    assertEquals(one, cache.bytes());
    for (long v = 2; v <= 6; v++) {
      cache.get(version(v));
      assertTrue(cache.bytes() <= one * 5 / 2, "over budget after v" + v + ": " + cache.bytes());
    }
    assertEquals(2 * one, cache.bytes(), "the two most recent copies stay");
    assertNotSame(m1, cache.get(v1), "the least recently used copy was dropped");
  }

  @Test
  void aCopyOverTheBudgetIsMergedButNotKept() {
    AdapterVersion v = version(1);
    MergedWeightsCache cache = new MergedWeightsCache(copyBytes(v) - 1);
    BaseModel m = cache.get(v);
    assertTrue(m != null && m != BASE);
    assertEquals(0, cache.bytes());
    assertNotSame(m, cache.get(v));
  }

  @Test
  void blobUrisAreLeftOutOfRefusalMessages() {
    assertEquals("adapter_model.safetensors: cannot fetch <blob>: NoSuchKey",
        InferenceServer.withoutUris("adapter_model.safetensors: cannot fetch s3://tenant-bucket/adapters/a/v5/adapter_model.safetensors: NoSuchKey"));
    assertEquals("cannot fetch <blob> (<blob>)", InferenceServer.withoutUris(
        "cannot fetch file:/var/lib/blobs/x (https://minio.internal:9000/b/k)"));
    assertEquals("SIGNATURE: no trusted key signed it", InferenceServer.withoutUris("SIGNATURE: no trusted key signed it"));
  }
}
