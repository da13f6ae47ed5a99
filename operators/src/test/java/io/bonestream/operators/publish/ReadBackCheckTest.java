package io.bonestream.operators.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.bonestream.operators.publish.ReadBackCheck.Refusal;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the training operator accepts of the manifests it reads back, signed and unsigned. */
class ReadBackCheckTest {
  private static final SigningKeys.Signer JOB = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "job");
  private static final SigningKeys.Signer OLD = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "old");
  private static final SigningKeys.Signer OTHER = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "x");

  private static AdapterSnapshot manifest(String id, long version) {
    return AdapterSnapshot.newBuilder().setAdapterId(id).setVersion(version).setCreatedAt(Instant.EPOCH)
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("00").build())
        .setTokenizerSha256("00").setMethod("bat").setPeftType("MISS").setR(4).setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(1).setTokens(1).setExamples(1).setSkippedSteps(0)
            .setLastLoss(1).setLossEma(1).build())
        .setLineage(List.of())
        .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
            .setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {1, 2, 3})).build())
        .build();
  }

  private static Refusal check(ReadBackCheck c, String key, AdapterSnapshot m) {
    return c.refusal(key == null ? null : key.getBytes(StandardCharsets.UTF_8), AdapterSnapshots.encode(m), m);
  }

  @Test
  void aSigningJobTrustsOnlyItsKeysOnTheRightRecordKey() {
    ReadBackCheck c = ReadBackCheck.of(JOB, List.of(SigningKeys.publicPem(OLD.publicKey())));
    AdapterSnapshot mine = ManifestSignatures.sign(manifest("a", 7), JOB);
    assertNull(check(c, "a", mine));
    assertNull(check(c, "a", ManifestSignatures.sign(manifest("a", 7), OLD)), "a trusted earlier key");
    assertEquals(Refusal.KEY_MISMATCH, check(c, "b", mine), "adapter a's manifest re-keyed as b");
    assertEquals(Refusal.KEY_MISMATCH, check(c, null, mine));
    assertEquals(Refusal.UNSIGNED, check(c, "a", manifest("a", 7)));
    assertEquals(Refusal.UNKNOWN_KEY, check(c, "a", ManifestSignatures.sign(manifest("a", 7), OTHER)));
    AdapterSnapshot changed = AdapterSnapshot.newBuilder(mine).setVersion(8).build();
    assertEquals(Refusal.BAD_SIGNATURE, check(c, "a", changed));
    AdapterSnapshot payloadSwapped = AdapterSnapshot.newBuilder(mine).setPayload(InlineAdapter.newBuilder()
        .setAdapterConfigJson("{}").setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {9})).build()).build();
    assertEquals(Refusal.BAD_SIGNATURE, check(c, "a", payloadSwapped));
    for (long v : new long[] {0, -1, ReadBackCheck.MAX_VERSION + 1, Long.MAX_VALUE}) {
      assertEquals(Refusal.IMPLAUSIBLE_VERSION, check(c, "a", ManifestSignatures.sign(manifest("a", v), JOB)), "v" + v);
    }
    assertNull(check(c, "a", ManifestSignatures.sign(manifest("a", ReadBackCheck.MAX_VERSION), JOB)));
  }

  @Test
  void anUnsignedJobStillChecksKeysAndVersions() {
    ReadBackCheck c = ReadBackCheck.of(null, List.of());
    assertNull(check(c, "a", manifest("a", 3)));
    assertNull(check(c, "a", ManifestSignatures.sign(manifest("a", 3), OTHER)));
    assertEquals(Refusal.KEY_MISMATCH, check(c, "b", manifest("a", 3)));
    assertEquals(Refusal.IMPLAUSIBLE_VERSION, check(c, "a", manifest("a", Long.MAX_VALUE - 1)));
  }
}
