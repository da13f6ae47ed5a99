package io.bonestream.operators.train;

/**
 * Keeps an adapter's version numbers above every version already published. Once per adapter after
 * a start, its progress (restored, or new) is set against the newest version the adapters topic
 * holds; from then on each published version is numbered after the one before.
 */
final class NeverBackwards {
  /** How an adapter goes on after a start. */
  enum Start {
    /** Nothing above its own version was published: it goes on from its state. */
    OWN_STATE,
    /** It has no state, but versions were published: it continues from the newest of them. */
    CONTINUE_FROM_PUBLISHED,
    /** Its state is older than what was published (an old savepoint): it goes on from that state, numbered after. */
    NUMBER_AFTER_PUBLISHED
  }

  private NeverBackwards() {}

  /**
   * @param hasTrainingState whether keyed state holds the adapter's training state
   * @param newestPublished the newest version the topic holds for the adapter, 0 when none
   */
  static Start onStart(AdapterProgress p, boolean hasTrainingState, long newestPublished) {
    if (newestPublished <= p.version) {
      return Start.OWN_STATE;
    }
    return p.version == 0 && !hasTrainingState ? Start.CONTINUE_FROM_PUBLISHED : Start.NUMBER_AFTER_PUBLISHED;
  }

  /** The adapter keeps its (older) state; its next version comes after {@code newestPublished}. */
  static void numberAfter(AdapterProgress p, long newestPublished) {
    p.resumedFromVersion = p.version;
    p.resumedReason = "STALE_STATE";
    p.resumedFreshOptimizer = false;
    p.version = newestPublished;
  }

  /**
   * The adapter continues from published version {@code version} (its weights, or a new adapter
   * numbered after it: {@code reason} says which), with a fresh optimizer.
   */
  static void continuedFrom(AdapterProgress p, long version, String reason) {
    p.version = version;
    p.resumedFromVersion = version;
    p.resumedReason = reason;
    p.resumedFreshOptimizer = true;
  }

  /** The number of the version about to be published. */
  static long nextVersion(AdapterProgress p) {
    return Math.addExact(p.version, 1); // below ReadBackCheck.MAX_VERSION: never wraps
  }
}
