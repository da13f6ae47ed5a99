package io.bonestream.schemas;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.PublicKey;
import java.security.Signature;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Ed25519 manifest signatures: valid, deterministic, and each way a manifest can be wrong. */
class ManifestSignaturesTest {
  @TempDir Path tmp;

  private static final KeyPair PAIR = SigningKeys.generate();
  private static final SigningKeys.Signer SIGNER = SigningKeys.signer(SigningKeys.privatePem(PAIR), "test key");
  private static final Map<String, PublicKey> TRUSTED = Map.of(SIGNER.keyId(), PAIR.getPublic());

  static AdapterSnapshot manifest(byte[] weights) {
    return AdapterSnapshot.newBuilder().setAdapterId("a").setVersion(3).setCreatedAt(Instant.ofEpochMilli(7))
        .setBaseModel(BaseModelRef.newBuilder().setName("m").setWeightsSha256("0".repeat(64)).build())
        .setTokenizerSha256("1".repeat(64)).setMethod("bone").setPeftType("MISS").setR(8)
        .setTargetModules(List.of("q_proj"))
        .setStats(TrainingStats.newBuilder().setStep(6).setTokens(2).setExamples(3).setSkippedSteps(0)
            .setLastLoss(1.5).setLossEma(1.5).build())
        .setLineage(List.of())
        .setPayload(InlineAdapter.newBuilder().setAdapterConfigJson("{}")
            .setAdapterModelSafetensors(ByteBuffer.wrap(weights)).build())
        .build();
  }

  private static ManifestSignatures.Verdict verdict(AdapterSnapshot m, Map<String, PublicKey> keys) {
    return ManifestSignatures.verify(AdapterSnapshots.encode(m), keys).verdict();
  }

  @Test
  void aSignedManifestVerifiesAndSigningIsDeterministic() {
    AdapterSnapshot signed = ManifestSignatures.sign(manifest(new byte[] {1, 2, 3}), SIGNER);
    assertEquals(SIGNER.keyId(), signed.getSignatureKeyId());
    assertEquals(ManifestSignatures.Verdict.VALID, verdict(signed, TRUSTED));
    assertArrayEquals(AdapterSnapshots.encode(signed),
        AdapterSnapshots.encode(ManifestSignatures.sign(manifest(new byte[] {1, 2, 3}), SIGNER)));
  }

  @Test
  void changedPayloadUnknownKeyUnsignedAndGarbageAreEachFound() {
    AdapterSnapshot signed = ManifestSignatures.sign(manifest(new byte[] {1, 2, 3}), SIGNER);
    AdapterSnapshot changedPayload = AdapterSnapshot.newBuilder(signed).setPayload(InlineAdapter.newBuilder()
        .setAdapterConfigJson("{}").setAdapterModelSafetensors(ByteBuffer.wrap(new byte[] {1, 2, 4})).build()).build();
    assertEquals(ManifestSignatures.Verdict.BAD_SIGNATURE, verdict(changedPayload, TRUSTED));
    AdapterSnapshot changedStats = AdapterSnapshot.newBuilder(signed).setVersion(4).build();
    assertEquals(ManifestSignatures.Verdict.BAD_SIGNATURE, verdict(changedStats, TRUSTED));
    KeyPair other = SigningKeys.generate();
    AdapterSnapshot resigned = ManifestSignatures.sign(manifest(new byte[] {1, 2, 3}),
        SigningKeys.signer(SigningKeys.privatePem(other), "other"));
    assertEquals(ManifestSignatures.Verdict.UNKNOWN_KEY, verdict(resigned, TRUSTED));
    // another key under a trusted key's id
    AdapterSnapshot forged = AdapterSnapshot.newBuilder(resigned).setSignatureKeyId(SIGNER.keyId()).build();
    assertEquals(ManifestSignatures.Verdict.BAD_SIGNATURE, verdict(forged, TRUSTED));
    assertEquals(ManifestSignatures.Verdict.UNSIGNED, verdict(manifest(new byte[] {1}), TRUSTED));
    assertEquals(ManifestSignatures.Verdict.INVALID,
        ManifestSignatures.verify(new byte[] {1, 2, 3}, TRUSTED).verdict());
  }

  /**
   * A key rotation as docs/operations.md runs it: verifiers trust the old and the new key, the job switches
   * to the new one, then the old key is dropped. While both are trusted, manifests of either verify; after,
   * the old key's manifests are UNKNOWN_KEY.
   */
  @Test
  void aRotationTrustsBothKeysThenOnlyTheNewOne() {
    KeyPair next = SigningKeys.generate();
    SigningKeys.Signer nextSigner = SigningKeys.signer(SigningKeys.privatePem(next), "next key");
    AdapterSnapshot before = ManifestSignatures.sign(manifest(new byte[] {1, 2, 3}), SIGNER);
    AdapterSnapshot after = ManifestSignatures.sign(manifest(new byte[] {4, 5, 6}), nextSigner);
    Map<String, PublicKey> both = Map.of(SIGNER.keyId(), PAIR.getPublic(), nextSigner.keyId(), next.getPublic());
    assertEquals(ManifestSignatures.Verdict.VALID, verdict(before, both));
    assertEquals(ManifestSignatures.Verdict.VALID, verdict(after, both));
    Map<String, PublicKey> onlyNext = Map.of(nextSigner.keyId(), next.getPublic());
    assertEquals(ManifestSignatures.Verdict.UNKNOWN_KEY, verdict(before, onlyNext));
    assertEquals(ManifestSignatures.Verdict.VALID, verdict(after, onlyNext));
    assertEquals(ManifestSignatures.Verdict.UNKNOWN_KEY, verdict(after, TRUSTED), "the new key before it is trusted");
  }

  @org.junit.jupiter.params.ParameterizedTest
  @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2})
  void aManifestOfAnEarlierSchemaVerifiesWithItsOwnBytes(int version) throws Exception {
    // written by an earlier release: 1 has no resumed_from, 2 no drift, erasures or anchor statistics
    Schema v1 = AdapterSnapshots.schemaVersion(version);
    GenericRecord old = new GenericData.Record(v1);
    AdapterSnapshot now = manifest(new byte[] {9, 9});
    for (Schema.Field f : v1.getFields()) {
      Object value = GenericData.get().deepCopy(AdapterSnapshot.getClassSchema().getField(f.name()).schema(),
          now.get(f.name()));
      old.put(f.name(), value instanceof Instant i ? i.toEpochMilli() : value);
    }
    old.put("base_model", copy(v1.getField("base_model").schema(), now.getBaseModel()));
    old.put("stats", copy(v1.getField("stats").schema(), now.getStats()));
    old.put("payload", copy(v1.getField("payload").schema().getTypes().get(0), (InlineAdapter) now.getPayload()));
    old.put("signature_key_id", SIGNER.keyId());
    old.put("signature", null);
    BinaryMessageEncoder<GenericRecord> enc = new BinaryMessageEncoder<>(GenericData.get(), v1);
    byte[] unsigned = bytes(enc.encode(old));
    Signature s = Signature.getInstance("Ed25519");
    s.initSign(PAIR.getPrivate());
    s.update(ManifestSignatures.message(unsigned));
    old.put("signature", ByteBuffer.wrap(s.sign()));
    byte[] signed = bytes(enc.encode(old));
    assertEquals(ManifestSignatures.Verdict.VALID, ManifestSignatures.verify(signed, TRUSTED).verdict());
  }

  @Test
  void keyFilesRoundTripAndTheKeyIdFollowsThePublicKey() throws Exception {
    String id = SigningKeys.write(PAIR, tmp, "signing");
    SigningKeys.Signer s = SigningKeys.signer(Files.readString(tmp.resolve("signing.key")), "signing.key");
    PublicKey pub = SigningKeys.publicKey(Files.readString(tmp.resolve("signing.pub")), "signing.pub");
    assertEquals(id, s.keyId());
    assertEquals(id, SigningKeys.keyId(pub));
    assertTrue(id.matches("ed25519:[0-9a-f]{16}"), id);
    assertTrue(!s.toString().contains("PRIVATE"), "the key never shows in logs");
    assertThrows(IllegalArgumentException.class, () -> SigningKeys.signer(Files.readString(tmp.resolve("signing.pub")),
        "signing.pub"));
  }

  private static GenericRecord copy(Schema schema, org.apache.avro.specific.SpecificRecord from) {
    GenericRecord r = new GenericData.Record(schema);
    for (Schema.Field f : schema.getFields()) {
      r.put(f.name(), from.get(from.getSchema().getField(f.name()).pos()));
    }
    return r;
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.get(out);
    return out;
  }
}
