package io.bonestream.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.schemas.TrainingStats;
import io.bonestream.subscriber.AdapterVersion;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class MergedWeightsCacheTest {
  private static final HostModel HOST = HostModel.load(TestFiles.stories260K());
  private static final BaseModel BASE = BaseModel.of(HOST, DataType.FLOAT);

  private static AdapterVersion version(long v) {
    AdapterSet set = AdapterSet.create(BASE, AdapterConfig.builder().r(4).build(), new Rng(v));
    return new AdapterVersion("a", v, Instant.now(), "bat", 4, List.of("q_proj"),
        TrainingStats.newBuilder().setStep(v).setTokens(0).setExamples(0).setSkippedSteps(0)
            .setLastLoss(0).setLossEma(0).build(), PeftExporter.toPeft(set, BASE), HOST, "{}", new byte[0]);
  }

  /** Bytes of one merged copy, counted independently of the cache: every targeted weight. */
  private static long copyBytes(AdapterVersion v) {
    long n = 0;
    for (INDArray w : AdapterModels.adapters(v, BASE).mergedWeights().values()) {
      n += w.length() * 4;
    }
    return n;
  }

  @Test
  void keepsTheMostRecentCopiesWithinItsBudget() {
    long one = copyBytes(version(1));
    assertTrue(one > 0);
    MergedWeightsCache cache = new MergedWeightsCache(one * 5 / 2, BASE); // room for two copies
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
    MergedWeightsCache cache = new MergedWeightsCache(copyBytes(v) - 1, BASE);
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
