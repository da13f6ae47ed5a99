package io.bonestream.operators.train;

/**
 * Whether a due snapshot of an adapter is published, from its progress (the size of its eval set,
 * the best eval loss published, a drift pin) and the snapshot's eval and anchor losses
 * ({@link EvalPolicy}, {@link ContinualPolicy.Anchor}). In this order: a snapshot whose adapter is
 * not finite is never published; while a drift pins the last version before it, none is published
 * until the new eval set is complete; one whose anchor loss is above the base model's by more than
 * the anchor tolerance is held back by the anchor guard; once the eval set is complete, one worse
 * than the best published by more than the tolerance is held back by the eval gate. Only eval
 * losses measured on the complete eval set judge or become the best.
 */
final class EvalGate {
  enum Decision {
    PUBLISH,
    /** The adapter has a NaN or infinite tensor. */
    HOLD_NOT_FINITE,
    /** Worse than the best published eval loss by more than the tolerance. */
    HOLD_GATED,
    /** Its anchor loss is above the base model's by more than the anchor tolerance. */
    HOLD_ANCHOR,
    /** A drift pinned the last version before it; the new eval set is not full yet. */
    HOLD_PINNED;

    /** The reason the gated record names; null for a snapshot that is not reported there. */
    String reason() {
      return switch (this) {
        case HOLD_GATED -> "EVAL_LOSS";
        case HOLD_ANCHOR -> "ANCHOR_LOSS";
        case HOLD_PINNED -> "DRIFT_PIN";
        default -> null;
      };
    }
  }

  private final EvalPolicy policy;
  private final ContinualPolicy.Anchor anchor;

  EvalGate(EvalPolicy policy) {
    this(policy, ContinualPolicy.Anchor.OFF);
  }

  EvalGate(EvalPolicy policy, ContinualPolicy.Anchor anchor) {
    this.policy = policy;
    this.anchor = anchor;
  }

  EvalPolicy policy() {
    return policy;
  }

  boolean evalComplete(AdapterProgress p) {
    return policy.enabled() && p.evalCount >= policy.cap();
  }

  Decision decide(AdapterProgress p, double evalLoss, boolean adapterFinite) {
    return decide(p, evalLoss, adapterFinite, Double.NaN, Double.NaN);
  }

  /**
   * @param anchorLoss the snapshot's anchor loss, NaN when it was not scored (then the anchor guard
   *     does not judge it)
   */
  Decision decide(AdapterProgress p, double evalLoss, boolean adapterFinite, double anchorLoss,
      double baseAnchorLoss) {
    if (!adapterFinite) {
      return Decision.HOLD_NOT_FINITE;
    }
    if (p.pinned) {
      if (!evalComplete(p)) {
        return Decision.HOLD_PINNED;
      }
      p.pinned = false; // the new data's eval set is full: it judges from here
    }
    if (!Double.isNaN(anchorLoss) && anchor.holdsBack(anchorLoss, baseAnchorLoss)) {
      return Decision.HOLD_ANCHOR;
    }
    if (evalComplete(p) && policy.holdsBack(evalLoss, p.bestEvalLoss)) {
      return Decision.HOLD_GATED;
    }
    return Decision.PUBLISH;
  }

  /**
   * Records a published snapshot's eval loss as the best when it is lower, and measured on the
   * complete eval set; returns whether it was so measured.
   */
  boolean published(AdapterProgress p, double evalLoss) {
    if (!evalComplete(p) || !Double.isFinite(evalLoss)) {
      return false;
    }
    p.bestEvalLoss = Double.isNaN(p.bestEvalLoss) ? evalLoss : Math.min(p.bestEvalLoss, evalLoss);
    return true;
  }
}
