package io.bonestream.operators.publish;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Which read-back manifest numbers an adapter's next version. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class NewestVersionsTest {
  private static byte[] manifest(String id, long version) {
    return AdapterSnapshots.encode(manifestOf(id, version));
  }

  private static AdapterSnapshot manifestOf(String id, long version) {
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

  private static byte[] key(String id) {
    return id.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void theHighestAcceptedVersionOfEachOwnedAdapterCountsWhereverItLies() {
    List<String> refused = new ArrayList<>();
    NewestVersions n = new NewestVersions(id -> !id.equals("theirs"), ReadBackCheck.of(null, List.of()),
        (id, r) -> refused.add(id + " " + r));
    n.offer(key("a"), manifest("a", 1), 0, 10);
    n.offer(key("a"), manifest("a", 3), 1, 11);
    n.offer(key("a"), manifest("a", 2), 0, 12); // lower, later: the highest still counts
    n.offer(key("b"), manifest("b", 5), 2, 13);
    n.offer(key("theirs"), manifest("theirs", 9), 0, 14); // another subtask's: neither counted nor refused
    n.offer(null, manifest("a", 8), 0, 15);
    n.offer(key("a"), null, 0, 16);
    assertEquals(Map.of("a", new PublishedSnapshots.Ref(3, 1, 11), "b", new PublishedSnapshots.Ref(5, 2, 13)),
        n.newest());
    assertEquals(List.of(), refused);
  }

  @Test
  void refusedManifestsAreReportedAndNeverNumberVersions() {
    SigningKeys.Signer job = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "job");
    SigningKeys.Signer stranger = SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "x");
    List<String> refused = new ArrayList<>();
    NewestVersions n = new NewestVersions(id -> true, ReadBackCheck.of(job, List.of()),
        (id, r) -> refused.add(id + " " + r));
    n.offer(key("a"), AdapterSnapshots.encode(ManifestSignatures.sign(manifestOf("a", 2), job)), 0, 0);
    n.offer(key("a"), manifest("a", 7), 0, 1);
    n.offer(key("a"), AdapterSnapshots.encode(ManifestSignatures.sign(manifestOf("a", 8), stranger)), 0, 2);
    n.offer(key("a"), AdapterSnapshots.encode(ManifestSignatures.sign(manifestOf("b", 9), job)), 0, 3);
    n.offer(key("a"), AdapterSnapshots.encode(ManifestSignatures.sign(manifestOf("a", Long.MAX_VALUE), job)), 0, 4);
    n.offer(key("a"), "not a manifest".getBytes(StandardCharsets.UTF_8), 0, 5);
    assertEquals(Map.of("a", new PublishedSnapshots.Ref(2, 0, 0)), n.newest());
    assertEquals(List.of("a " + Refusal.UNSIGNED, "a " + Refusal.UNKNOWN_KEY, "a " + Refusal.KEY_MISMATCH,
        "a " + Refusal.IMPLAUSIBLE_VERSION, "a " + Refusal.UNDECODABLE), refused);
  }
}
