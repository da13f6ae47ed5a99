package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertThrows;

import io.bonestream.core.util.Hashes;
import io.bonestream.job.ClusterAssertions.RunOutput;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.BaseModelRef;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import io.bonestream.schemas.TrainingStats;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.LongStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The checks of the cluster fault tests fail on each kind of damage they exist to find. */
class ClusterAssertionsTest {
  @TempDir Path tmp;
  ClusterInput input;
  RunOutput good;

  /**
   * Adapter {@code a}: 16 records at offsets 0-7 and 9-16 of partition 0 (8 is broken), two
   * inline versions; {@code big-b}: 8 records at offsets 0-7 of partition 1, one claim check.
   */
  @BeforeEach
  void run() throws Exception {
    input = new ClusterInput("in");
    input.good.put("a", new TreeSet<>());
    LongStream.rangeClosed(0, 16).filter(o -> o != 8).forEach(o -> input.good.get("a").add(new ClusterInput.Offset(0, o)));
    input.bad.put("a", new TreeSet<>(List.of(new ClusterInput.Offset(0, 8))));
    input.good.put("big-b", new TreeSet<>());
    LongStream.rangeClosed(0, 7).forEach(o -> input.good.get("big-b").add(new ClusterInput.Offset(1, o)));
    good = output("good", tmp.resolve("good"), new byte[] {1, 2, 3});
  }

  private RunOutput output(String name, Path blobs, byte[] blobBytes) throws Exception {
    List<AdapterSnapshot> m = new ArrayList<>();
    m.add(inline("a", 1, new byte[] {1}, range(0, 0, 7, 8)));
    m.add(claim("big-b", 1, blobs, blobBytes, range(1, 0, 7, 8)));
    m.add(inline("a", 2, new byte[] {2}, range(0, 9, 16, 8)));
    return new RunOutput(name, m, List.of(deadLetter("a", 0, 8)), blobs);
  }

  @Test
  void aCorrectRunPassesAndEqualsAnotherWithOtherTimesAndBlobFolders() throws Exception {
    ClusterAssertions.assertComplete(input, good);
    RunOutput other = output("other", tmp.resolve("other"), new byte[] {1, 2, 3});
    List<AdapterSnapshot> later = other.manifests().stream()
        .map(s -> AdapterSnapshot.newBuilder(s).setCreatedAt(Instant.now().plusSeconds(60)).build()).toList();
    ClusterAssertions.assertSameAs(good, new RunOutput("other", later, other.deadLetters(), other.blobs()));
  }

  @Test
  void aVersionSeenTwiceFails() {
    List<AdapterSnapshot> twice = new ArrayList<>(good.manifests());
    twice.add(good.manifests().get(0));
    fails(with(twice));
  }

  @Test
  void aMissingVersionFails() {
    fails(with(good.manifests().subList(1, 3)));
  }

  @Test
  void aRecordTrainedTwiceFails() {
    List<AdapterSnapshot> m = new ArrayList<>(good.manifests());
    m.set(2, AdapterSnapshot.newBuilder(m.get(2)).setLineage(List.of(range(0, 7, 16, 9))).build());
    fails(with(m));
  }

  @Test
  void aRecordNeverTrainedFails() {
    List<AdapterSnapshot> m = new ArrayList<>(good.manifests());
    m.set(2, AdapterSnapshot.newBuilder(m.get(2)).setLineage(List.of(range(0, 10, 16, 7))).build());
    fails(with(m));
  }

  @Test
  void aDeadLetterMissingOrTwiceFails() {
    fails(new RunOutput("x", good.manifests(), List.of(), good.blobs()));
    DeadLetter d = good.deadLetters().get(0);
    fails(new RunOutput("x", good.manifests(), List.of(d, d), good.blobs()));
  }

  @Test
  void aClaimCheckWhoseBlobChangedFails() throws Exception {
    Files.write(tmp.resolve("good/big-b/1/adapter_model.safetensors"), new byte[] {1, 2, 4});
    fails(good);
  }

  @Test
  void otherAdapterBytesThanTheBaselineFail() throws Exception {
    List<AdapterSnapshot> m = new ArrayList<>(good.manifests());
    m.set(0, inline("a", 1, new byte[] {9}, range(0, 0, 7, 8)));
    assertThrows(AssertionError.class, () -> ClusterAssertions.assertSameAs(good, with(m)));
    RunOutput otherBlob = output("other", tmp.resolve("other"), new byte[] {3, 2, 1});
    assertThrows(AssertionError.class, () -> ClusterAssertions.assertSameAs(good, otherBlob));
  }

  private RunOutput with(List<AdapterSnapshot> manifests) {
    return new RunOutput("damaged", manifests, good.deadLetters(), good.blobs());
  }

  private void fails(RunOutput run) {
    assertThrows(AssertionError.class, () -> ClusterAssertions.assertComplete(input, run));
  }

  private static OffsetRange range(int partition, long first, long last, long records) {
    return OffsetRange.newBuilder().setTopic("in").setPartition(partition).setFirstOffset(first)
        .setLastOffset(last).setRecords(records).build();
  }

  private static AdapterSnapshot.Builder manifest(String id, long version, OffsetRange lineage) {
    return AdapterSnapshot.newBuilder().setAdapterId(id).setVersion(version).setCreatedAt(Instant.now())
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("0".repeat(64)).build())
        .setTokenizerSha256("0".repeat(64)).setMethod("bat").setPeftType("MISS").setR(4)
        .setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(version * 2).setTokens(1).setExamples(version * 8)
            .setSkippedSteps(0).setLastLoss(1).setLossEma(1).build())
        .setLineage(List.of(lineage));
  }

  private static AdapterSnapshot inline(String id, long version, byte[] weights, OffsetRange lineage) {
    return manifest(id, version, lineage).setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
        .setAdapterModelSafetensors(ByteBuffer.wrap(weights)).build()).build();
  }

  private static AdapterSnapshot claim(String id, long version, Path blobs, byte[] weights, OffsetRange lineage)
      throws Exception {
    Path dir = blobs.resolve(id).resolve(Long.toString(version));
    Files.createDirectories(dir);
    Files.write(dir.resolve("adapter_model.safetensors"), weights);
    return manifest(id, version, lineage).setPayload(ClaimCheck.newBuilder().setUri(dir.toUri().toString())
        .setSize(weights.length).setSha256(Hashes.sha256Hex(weights)).setConfigSha256("0".repeat(64)).build()).build();
  }

  private static DeadLetter deadLetter(String adapter, int partition, long offset) {
    return DeadLetter.newBuilder().setOriginal(ByteBuffer.wrap(new byte[] {0}))
        .setOriginalKey(ByteBuffer.wrap(adapter.getBytes(StandardCharsets.UTF_8))).setTopic("in")
        .setPartition(partition).setOffset(offset).setErrorCode("EMPTY_RESPONSE").setErrorMessage("empty")
        .setFailedAt(Instant.now()).build();
  }
}
