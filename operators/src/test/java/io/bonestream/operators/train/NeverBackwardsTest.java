package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.operators.train.NeverBackwards.Start;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** How an adapter's version numbers go on after a start, against the newest published version. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class NeverBackwardsTest {
  private static AdapterProgress atVersion(long version) {
    AdapterProgress p = new AdapterProgress();
    p.version = version;
    return p;
  }

  @Test
  void anAdapterAtOrAboveWhatWasPublishedGoesOnFromItsState() {
    assertEquals(Start.OWN_STATE, NeverBackwards.onStart(atVersion(0), false, 0), "new, nothing published");
    assertEquals(Start.OWN_STATE, NeverBackwards.onStart(atVersion(4), true, 0), "nothing published (or read)");
    assertEquals(Start.OWN_STATE, NeverBackwards.onStart(atVersion(4), true, 4));
    assertEquals(Start.OWN_STATE, NeverBackwards.onStart(atVersion(4), true, 3));
  }

  @Test
  void anAdapterWithoutStateContinuesFromThePublishedVersion() {
    AdapterProgress p = atVersion(0);
    assertEquals(Start.CONTINUE_FROM_PUBLISHED, NeverBackwards.onStart(p, false, 3));
    NeverBackwards.continuedFrom(p, 3, "NO_STATE");
    assertEquals(4, NeverBackwards.nextVersion(p));
    assertEquals(3, p.resumedFromVersion);
    assertEquals("NO_STATE", p.resumedReason);
    assertTrue(p.resumedFreshOptimizer);
  }

  @Test
  void anOlderStateIsNumberedAfterTheNewestPublishedVersion() {
    AdapterProgress p = atVersion(2);
    assertEquals(Start.NUMBER_AFTER_PUBLISHED, NeverBackwards.onStart(p, true, 4));
    NeverBackwards.numberAfter(p, 4);
    assertEquals(5, NeverBackwards.nextVersion(p));
    assertEquals(2, p.resumedFromVersion);
    assertEquals("STALE_STATE", p.resumedReason);
    assertFalse(p.resumedFreshOptimizer);
    // trained but never published: its state is kept, numbered after what the topic holds
    assertEquals(Start.NUMBER_AFTER_PUBLISHED, NeverBackwards.onStart(atVersion(0), true, 4));
  }

  @Test
  void aPublishedVersionToldItsResumptionOnce() {
    AdapterProgress p = atVersion(2);
    NeverBackwards.numberAfter(p, 4);
    p.version = NeverBackwards.nextVersion(p);
    p.published();
    assertEquals(5, p.version);
    assertEquals(0, p.resumedFromVersion);
    assertNull(p.resumedReason);
    assertEquals(6, NeverBackwards.nextVersion(p));
  }

  @Test
  void theNextVersionIsAboveEveryPublishedOneAndTheAdaptersOwn() {
    for (long own = 0; own <= 5; own++) {
      for (long newest = 0; newest <= 6; newest++) {
        for (boolean hasState : new boolean[] {false, true}) {
          AdapterProgress p = atVersion(own);
          switch (NeverBackwards.onStart(p, hasState, newest)) {
            case OWN_STATE -> { }
            case CONTINUE_FROM_PUBLISHED -> NeverBackwards.continuedFrom(p, newest, "NO_STATE");
            case NUMBER_AFTER_PUBLISHED -> NeverBackwards.numberAfter(p, newest);
          }
          long next = NeverBackwards.nextVersion(p);
          String at = "own " + own + ", published " + newest + ", state " + hasState;
          assertEquals(Math.max(own, newest) + 1, next, at);
        }
      }
    }
  }

  @Test
  void versionNumbersNeverWrap() {
    assertThrows(ArithmeticException.class, () -> NeverBackwards.nextVersion(atVersion(Long.MAX_VALUE)));
  }
}
