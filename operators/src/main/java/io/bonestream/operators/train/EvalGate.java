package io.bonestream.operators.train;

/**
 * Whether a due snapshot of an adapter is published, from its progress (the size of its eval set,
 * the best eval loss published) and the snapshot's eval loss ({@link EvalPolicy}). A snapshot whose
 * adapter is not finite is never published; once the eval set is complete, one worse than the best
 * published by more than the tolerance is held back by the gate. Only eval losses measured on the
 * complete eval set judge or become the best.
 */
final class EvalGate {
  enum Decision {
    PUBLISH,
    /** The adapter has a NaN or infinite tensor. */
    HOLD_NOT_FINITE,
    /** Worse than the best published eval loss by more than the tolerance. */
    HOLD_GATED
  }

  private final EvalPolicy policy;

  EvalGate(EvalPolicy policy) {
    this.policy = policy;
  }

  EvalPolicy policy() {
    return policy;
  }

  boolean evalComplete(AdapterProgress p) {
    return policy.enabled() && p.evalCount >= policy.cap();
  }

  Decision decide(AdapterProgress p, double evalLoss, boolean adapterFinite) {
    if (!adapterFinite) {
      return Decision.HOLD_NOT_FINITE;
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
