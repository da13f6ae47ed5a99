package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class TrainedSinceVersionTest {

  @Test
  void namesExactlyTheIdsTrainedOnKeepingExampleAndUserIdsApart() {
    TrainedSinceVersion t = TrainedSinceVersion.none();
    t.add("ticket-1", "u-1");
    t.add("ticket-2", "");
    t.add(null, "u-3");
    assertTrue(t.names("ticket-1", null));
    assertTrue(t.names(null, "u-1"));
    assertTrue(t.names("ticket-2", null));
    assertTrue(t.names(null, "u-3"));
    assertFalse(t.names("ticket-3", null));
    assertFalse(t.names(null, "u-2"));
    assertFalse(t.names(null, "ticket-1"), "a user id is not an example id");
    assertFalse(t.names("u-1", null), "an example id is not a user id");
    assertFalse(t.names(null, ""), "an example without a user id names no user");
    assertFalse(t.isUnknown());
  }

  @Test
  void withoutARecordAnAdapterThatTookStepsCountsAsHavingTrainedOnAnything() {
    assertFalse(TrainedSinceVersion.of(null, false).names("x", null), "no step: nothing to undo");
    assertTrue(TrainedSinceVersion.of(null, true).names("x", null), "steps of a build that kept no record");
    TrainedSinceVersion known = TrainedSinceVersion.none();
    known.add("a", null);
    assertFalse(TrainedSinceVersion.of(known.toBytes(), true).names("x", null), "a record decides");
  }

  @Test
  void pastItsCapEveryRequestRetrainsRatherThanNone() {
    TrainedSinceVersion t = TrainedSinceVersion.none();
    for (int i = 0; i < TrainedSinceVersion.MAX_FINGERPRINTS; i++) {
      t.add("e" + i, null);
    }
    assertFalse(t.names("never", null));
    assertEquals(TrainedSinceVersion.MAX_FINGERPRINTS, t.size());
    t.add("one-more", null);
    assertTrue(t.isUnknown());
    assertTrue(t.names("never", null));
    assertTrue(t.toBytes().length < 16, "a full record is not kept");
    assertTrue(TrainedSinceVersion.fromBytes(t.toBytes()).names("never", null));
  }

  @Test
  void itsBytesRoundTripAndDamagedOnesAreRefused() {
    TrainedSinceVersion t = TrainedSinceVersion.none();
    t.add("a", "u");
    t.add("b", null);
    byte[] bytes = t.toBytes();
    TrainedSinceVersion back = TrainedSinceVersion.fromBytes(bytes);
    assertEquals(3, back.size());
    assertTrue(back.names("b", null) && back.names(null, "u") && !back.names("c", null));
    assertThrows(IllegalStateException.class, () -> TrainedSinceVersion.fromBytes(Arrays.copyOf(bytes, bytes.length - 1)));
    byte[] otherFormat = bytes.clone();
    otherFormat[0] = 9;
    assertThrows(IllegalStateException.class, () -> TrainedSinceVersion.fromBytes(otherFormat));
    byte[] hugeCount = bytes.clone();
    hugeCount[2] = 0x7f;
    assertThrows(IllegalStateException.class, () -> TrainedSinceVersion.fromBytes(hugeCount));
  }
}
