package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.ControlRecords;
import io.bonestream.operators.decode.ControlTrust;
import io.bonestream.operators.decode.DecodeInstructions;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.Erasure;
import io.bonestream.schemas.SigningKeys;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Signed control requests in the keyed operator harness (docs/inputs.md, "Signed requests"): a copy
 * of one written again within its max age is refused, a request issued again is acted on, and what
 * the trainer remembers stays bounded, the expired requests forgotten first.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class SignedRequestsHarnessTest {
  private static final KeyPair KEY = SigningKeys.generate();
  private static final SigningKeys.Signer SIGNER = SigningKeys.signer(SigningKeys.privatePem(KEY), "test key");
  private static final ControlTrust.Verifier TRUST =
      new ControlTrust(List.of(SigningKeys.publicPem(KEY.getPublic())), Duration.ofHours(1)).verifier();
  private static final Instant ISSUED = Instant.parse("2026-12-06T10:15:30Z");

  @TempDir Path tmp;

  private static TrainingItem example(String id, long offset) {
    return TrainerHarness.example(id, offset);
  }

  /** The request in {@code value} as the decode operator passes it on, read at {@code offset}. */
  private static TrainingItem read(byte[] value, long offset, Duration writtenAfterIssue) throws Exception {
    KafkaInput in = new KafkaInput("a".getBytes(StandardCharsets.UTF_8), value, "control", 0, offset,
        ISSUED.plus(writtenAfterIssue).toEpochMilli());
    TrainingItem i = ControlRecords.decode(in, TRUST);
    i.original = value;
    return i;
  }

  @Test
  void aCopyOfASignedRequestIsRefusedAndARequestIssuedAgainIsActedOn() throws Exception {
    byte[] request = ControlRecords.erase("a", "x-1", null, false, SIGNER, ISSUED);
    byte[] issuedAgain = ControlRecords.erase("a", "x-1", null, false, SIGNER, ISSUED.plusSeconds(60));
    List<DeadLetter> letters = new ArrayList<>();
    List<AdapterSnapshot> versions;
    try (var h = TrainerHarness.of(TrainerHarness.trainer(TrainerHarness.BAT4, 4, 1, tmp))) {
      h.open();
      for (int k = 0; k < 4; k++) { // version 1
        TrainerHarness.process(h, List.of(example("e" + k, k)));
      }
      TrainerHarness.process(h, List.of(example("x-1", 4))); // buffered
      TrainerHarness.process(h, List.of(read(request, 5, Duration.ofMinutes(1))));
      TrainerHarness.process(h, List.of(example("x-1", 6))); // sent again after the erasure: kept
      TrainerHarness.process(h, List.of(read(request, 7, Duration.ofMinutes(30)))); // a copy
      TrainerHarness.process(h, List.of(example("y", 8), example("z", 9)));
      TrainerHarness.process(h, List.of(example("w", 10))); // version 2: x-1 (offset 6), y, z, w
      TrainerHarness.process(h, List.of(example("x-1", 11))); // buffered
      TrainerHarness.process(h, List.of(read(issuedAgain, 12, Duration.ofMinutes(2))));
      for (int k = 13; k < 17; k++) { // version 3
        TrainerHarness.process(h, List.of(example("v" + k, k)));
      }
      var side = h.getSideOutput(DecodeInstructions.DEAD_LETTERS);
      for (StreamRecord<EncodedRecord> r : side == null ? List.<StreamRecord<EncodedRecord>>of() : side) {
        letters.add(DeadLetter.getDecoder().decode(r.getValue().value));
      }
      versions = TrainerHarness.manifests(h.extractOutputValues());
    }
    assertEquals(1, letters.size(), "only the copy");
    assertEquals(7, letters.get(0).getOffset());
    assertEquals("INVALID_CONTROL_RECORD", letters.get(0).getErrorCode());
    assertTrue(letters.get(0).getErrorMessage().contains("a copy of a signed request"),
        letters.get(0).getErrorMessage());
    assertEquals(3, versions.size());
    List<Erasure> second = versions.get(1).getErasures();
    assertEquals(List.of(5L), second.stream().map(Erasure::getOffset).toList());
    assertEquals(1, second.get(0).getRemovedBuffered());
    assertEquals(6L, versions.get(1).getLineage().get(0).getFirstOffset(),
        "x-1 sent again after the erasure (offset 6) trained: the copy did not remove it");
    List<Erasure> third = versions.get(2).getErasures();
    assertEquals(List.of(12L), third.stream().map(Erasure::getOffset).toList(), "issued again: acted on");
    assertEquals(1, third.get(0).getRemovedBuffered());
  }

  @Test
  void theRememberedRequestsAreBoundedExpiredOnesForgottenFirstThenTheSoonestToExpire() throws Exception {
    int max = SignedRequestsSeen.MAX_REMEMBERED;
    long t = ISSUED.toEpochMilli();
    long skew = ControlTrust.CLOCK_SKEW.toMillis();
    try (var h = TrainerHarness.of(TrainerHarness.trainer(TrainerHarness.BAT4, 4, 1, tmp))) {
      h.open();
      h.getOperator().setCurrentKey("a");
      MapState<Long, Long> state = h.getOperator().getPartitionedState(VoidNamespace.INSTANCE,
          VoidNamespaceSerializer.INSTANCE, SignedRequestsSeen.descriptor());
      int remembered = 0;
      for (long id = 1; id <= max; id++) { // request id expires at t + id
        remembered = SignedRequestsSeen.remember(state, remembered, id, t, t + id);
      }
      assertEquals(max, remembered);
      // issued at t + 50 + skew: written no earlier than t + 50, so requests 1 to 49 have expired
      remembered = SignedRequestsSeen.remember(state, remembered, -1, t + 50 + skew, t + 1_000_000);
      assertEquals(max - 49 + 1, remembered);
      assertTrue(!SignedRequestsSeen.seen(state, 49), "expired: forgotten");
      assertTrue(SignedRequestsSeen.seen(state, 50), "a copy written at t + 50 is still accepted by age");
      assertTrue(SignedRequestsSeen.seen(state, -1));
      for (long id = max + 1; id <= max + 48; id++) {
        remembered = SignedRequestsSeen.remember(state, remembered, id, t, t + id);
      }
      assertEquals(max, remembered);
      // nothing expired: the one soonest to expire (50) makes room
      remembered = SignedRequestsSeen.remember(state, remembered, -2, t, t + 2_000_000);
      assertEquals(max, remembered);
      assertTrue(!SignedRequestsSeen.seen(state, 50));
      assertTrue(SignedRequestsSeen.seen(state, 51));
      assertTrue(SignedRequestsSeen.seen(state, -2));
      int counted = 0;
      for (var ignored : state.keys()) {
        counted++;
      }
      assertEquals(max, counted, "the count kept beside the state is the state's");
    }
  }
}
