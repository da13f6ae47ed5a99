package io.bonestream.operators.train;

/**
 * Tells a drift in an adapter's stream from the noise of training: each arriving batch's loss,
 * measured before the step that trains on it, against an exponential moving average of the
 * adapter's recent pre-step losses and of their spread. A batch is high when its loss exceeds the average by more than {@code k} spreads and by
 * more than {@code minRise} of the average; {@code sustain} high batches in a row are a drift event.
 * High batches are held out of the average until they either make an event (the average then
 * starts again from them: the new data is the new normal) or end (they are folded in), so a
 * sustained jump cannot lift the baseline it is measured against. Plain arithmetic on doubles in a
 * fixed order: a restored adapter decides exactly as one that never stopped.
 */
public final class DriftDetector {
  /** Settings: EMA factor, spreads, minimum relative rise, batches in a row, batches before any event. */
  public record Settings(double alpha, double k, double minRise, int sustain, int warmup) {
    public static final Settings DEFAULT = new Settings(0.2, 3.0, 0.5, 3, 8);

    public Settings {
      if (!(alpha > 0 && alpha <= 1) || !(k >= 0) || !(minRise >= 0) || sustain < 1 || warmup < 1) {
        throw new IllegalArgumentException("drift settings: 0 < alpha ≤ 1, k ≥ 0, min-rise ≥ 0, sustain ≥ 1, warmup ≥ 1");
      }
    }
  }

  /**
   * What is kept per adapter: the average and variance of recent losses, how many batches they
   * hold, and the losses of the current run of high batches (at most {@code sustain − 1}).
   */
  public record State(double mean, double variance, long batches, double[] pending) {
    public static final State EMPTY = new State(0, 0, 0, new double[0]);
  }

  /** A batch's verdict and the state after it. */
  public record Verdict(State state, boolean drift, double loss, double baseline) {}

  private DriftDetector() {}

  public static Verdict observe(State s, double loss, Settings c) {
    if (!Double.isFinite(loss)) {
      return new Verdict(s, false, loss, s.mean); // a non-finite loss is the step guard's business
    }
    if (s.batches < c.warmup()) {
      return new Verdict(fold(s, loss, c), false, loss, s.mean);
    }
    double spread = Math.sqrt(s.variance);
    boolean high = loss > s.mean + c.k() * spread && loss > s.mean * (1 + c.minRise());
    if (!high) {
      State folded = s;
      for (double p : s.pending) { // a run that ended before it was sustained: ordinary noise after all
        folded = fold(folded, p, c);
      }
      folded = fold(new State(folded.mean, folded.variance, folded.batches, new double[0]), loss, c);
      return new Verdict(folded, false, loss, s.mean);
    }
    if (s.pending.length + 1 < c.sustain()) {
      double[] pending = java.util.Arrays.copyOf(s.pending, s.pending.length + 1);
      pending[s.pending.length] = loss;
      return new Verdict(new State(s.mean, s.variance, s.batches, pending), false, loss, s.mean);
    }
    // a drift: the run's losses are the new baseline (their mean and spread), counted as warmed up
    double[] run = java.util.Arrays.copyOf(s.pending, s.pending.length + 1);
    run[s.pending.length] = loss;
    double mean = 0;
    for (double r : run) {
      mean += r;
    }
    mean /= run.length;
    double var = 0;
    for (double r : run) {
      var += (r - mean) * (r - mean);
    }
    var = run.length > 1 ? var / (run.length - 1) : s.variance;
    return new Verdict(new State(mean, var, Math.max(s.batches, c.warmup()), new double[0]), true, loss, s.mean);
  }

  /** The average and variance with one more loss (West's exponentially weighted update). */
  private static State fold(State s, double loss, Settings c) {
    if (s.batches == 0) {
      return new State(loss, 0, 1, s.pending);
    }
    double diff = loss - s.mean;
    double incr = c.alpha() * diff;
    double mean = s.mean + incr;
    double variance = (1 - c.alpha()) * (s.variance + diff * incr);
    return new State(mean, variance, s.batches + 1, s.pending);
  }
}
