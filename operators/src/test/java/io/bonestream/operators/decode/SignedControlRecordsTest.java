package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.util.Json;
import io.bonestream.operators.EveryAdapter;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.schemas.SigningKeys;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Control records under a job with control keys ({@link ControlTrust}): a request signed with one
 * of them and issued within the max age is acted on; unsigned, forged, altered, too old and
 * future requests are refused, each with its reason.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SignedControlRecordsTest {
  private static final KeyPair JOB_KEY = SigningKeys.generate();
  private static final SigningKeys.Signer SIGNER = SigningKeys.signer(SigningKeys.privatePem(JOB_KEY), "test key");
  private static final SigningKeys.Signer STRANGER =
      SigningKeys.signer(SigningKeys.privatePem(SigningKeys.generate()), "another key");
  private static final ControlTrust.Verifier TRUST = new ControlTrust(
      List.of(SigningKeys.publicPem(JOB_KEY.getPublic())), Duration.ofHours(1)).verifier();
  private static final Instant ISSUED = Instant.parse("2026-12-06T10:15:30Z");

  /** A control record written {@code writtenAfter} the request was issued. */
  private static KafkaInput in(byte[] value, Duration writtenAfter) {
    return new KafkaInput("a".getBytes(StandardCharsets.UTF_8), value, "bonestream.control", 0, 5,
        ISSUED.plus(writtenAfter).toEpochMilli());
  }

  private static String refused(byte[] value, Duration writtenAfter) {
    Rejected r = assertThrows(Rejected.class, () -> ControlRecords.decode(in(value, writtenAfter), TRUST));
    assertEquals(DeadLetterReason.INVALID_CONTROL_RECORD, r.reason());
    return r.getMessage();
  }

  private static byte[] edited(byte[] signed, String field, Object value) throws Exception {
    ObjectNode n = (ObjectNode) Json.MAPPER.readTree(signed);
    if (value == null) {
      n.remove(field);
    } else if (value instanceof Boolean b) {
      n.put(field, b);
    } else {
      n.put(field, value.toString());
    }
    return n.toString().getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aRequestSignedWithAControlKeyAndIssuedWithinTheMaxAgeIsActedOn() throws Exception {
    byte[] signed = ControlRecords.erase("a", null, "u-1", true, SIGNER, ISSUED);
    TrainingItem i = ControlRecords.decode(in(signed, Duration.ofMinutes(59)), TRUST);
    assertEquals("a", i.adapterId);
    assertEquals("u-1", i.eraseUserId);
    assertTrue(i.eraseRetrain);
    // the writer's clock a little ahead of the broker's
    ControlRecords.decode(in(signed, Duration.ofMinutes(-4)), TRUST);
    // a job without control keys acts on it as on any request
    assertEquals("u-1", ControlRecords.decode(in(signed, Duration.ofDays(30))).eraseUserId);
  }

  @Test
  void theSignatureCoversTheDocumentedBytesWhichPythonsJsonDumpsWrites() throws Exception {
    String userId = "ü \"q\" \\ \u0001\n";
    byte[] signed = ControlRecords.erase("a-1", null, userId, true, SIGNER, ISSUED);
    // written by Python: "bonestream-control-v1\n" + json.dumps(["erase", "a-1", None, user_id, True,
    // "2026-12-06T10:15:30Z"], separators=(",", ":"), ensure_ascii=False)
    String documented = "bonestream-control-v1\n[\"erase\",\"a-1\",null,\"ü \\\"q\\\" \\\\ \\u0001\\n\",true,"
        + "\"2026-12-06T10:15:30Z\"]";
    java.security.Signature jdk = java.security.Signature.getInstance("Ed25519");
    jdk.initVerify(JOB_KEY.getPublic());
    jdk.update(documented.getBytes(StandardCharsets.UTF_8));
    assertTrue(jdk.verify(java.util.Base64.getDecoder().decode(Json.MAPPER.readTree(signed).get("signature").asText())),
        "the signature is not over the documented bytes");
    assertEquals(userId, ControlRecords.decode(in(signed, Duration.ZERO), TRUST).eraseUserId);
  }

  @Test
  void unsignedForgedAndAlteredRequestsAreRefused() throws Exception {
    assertTrue(refused(ControlRecords.erase("a", "x", null, false), Duration.ZERO).startsWith("unsigned"));
    assertTrue(refused(ControlRecords.erase("a", "x", null, false, STRANGER, ISSUED), Duration.ZERO)
        .contains("not one of this job's control keys"));
    byte[] signed = ControlRecords.erase("a", "x", null, false, SIGNER, ISSUED);
    for (byte[] altered : List.of(edited(signed, "retrain", true), edited(signed, "example_id", "y"),
        edited(signed, "adapter_id", "b"), edited(signed, "issued_at", "2026-12-06T10:15:31Z"))) {
      assertTrue(refused(altered, Duration.ZERO).contains("does not match"), new String(altered, StandardCharsets.UTF_8));
    }
    assertTrue(refused(edited(signed, "signature", null), Duration.ZERO).startsWith("unsigned"));
    assertTrue(refused(edited(signed, "signature", "not base64!"), Duration.ZERO).contains("not base64"));
    assertTrue(refused(edited(signed, "issued_at", "yesterday"), Duration.ZERO).contains("ISO-8601"));
  }

  @Test
  void aCopyWrittenAgainAfterTheMaxAgeAndARequestFromTheFutureAreRefused() {
    byte[] signed = ControlRecords.erase("a", "x", null, false, SIGNER, ISSUED);
    assertTrue(refused(signed, Duration.ofMinutes(61)).contains("too old"));
    assertTrue(refused(signed, Duration.ofMinutes(-6)).contains("after its record"));
  }

  @Test
  void theDecodeOperatorActsOnSignedRequestsAndDeadLettersTheRest() throws Exception {
    ControlTrust trust = new ControlTrust(List.of(SigningKeys.publicPem(JOB_KEY.getPublic())), Duration.ofHours(1));
    try (var h = org.apache.flink.streaming.util.ProcessFunctionTestHarnesses.forProcessFunction(
        new DecodeControl(trust, 128))) {
      h.processElement(in(ControlRecords.erase("a", null, "u-1", false, SIGNER, ISSUED), Duration.ZERO), 0);
      h.processElement(in(ControlRecords.erase("a", null, "u-2", false), Duration.ZERO), 0);
      h.processElement(in(ControlRecords.erase("a", null, "u-3", false, STRANGER, ISSUED), Duration.ZERO), 0);
      List<TrainingItem> acted = h.extractOutputValues();
      assertEquals(1, acted.size());
      assertEquals("u-1", acted.get(0).eraseUserId);
      assertEquals(2, h.getSideOutput(DecodeInstructions.DEAD_LETTERS).size(), "the unsigned and the forged one");
      // a signed request to every adapter: one copy per key group of the trainer, each the same signed request
      h.processElement(in(ControlRecords.erase(EveryAdapter.ID, null, "u-4", true, SIGNER, ISSUED), Duration.ZERO), 0);
      List<TrainingItem> copies = h.extractOutputValues().subList(1, h.extractOutputValues().size());
      assertEquals(EveryAdapter.keys(128), copies.stream().map(i -> i.adapterId).toList());
      assertTrue(copies.stream().allMatch(i -> "u-4".equals(i.eraseUserId) && i.eraseRetrain
          && i.requestId == copies.get(0).requestId && i.requestId != 0 && i.original != null));
      assertEquals(2, h.getSideOutput(DecodeInstructions.DEAD_LETTERS).size());
    }
  }

  @Test
  void aTrustWithoutKeysNeedsNoSignatureAndBadSettingsAreRefused() throws Exception {
    ControlTrust.Verifier any = ControlTrust.ANY.verifier();
    assertEquals("x", ControlRecords.decode(in(ControlRecords.erase("a", "x", null, false), Duration.ZERO), any)
        .eraseExampleId);
    assertThrows(IllegalArgumentException.class, () -> new ControlTrust(List.of("not a key"), Duration.ofHours(1)));
    assertThrows(IllegalArgumentException.class,
        () -> new ControlTrust(List.of(SigningKeys.publicPem(JOB_KEY.getPublic())), Duration.ZERO));
  }
}
