package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * An adapter's held-out evaluation and its gate. A deterministic slice of the adapter's records
 * (by a hash of the adapter id and the record's example id, or of its tokens when it has none) is
 * held out, never trained on, until {@code cap} records are held: they give the eval loss of every
 * snapshot. Once the eval set is complete, a snapshot whose eval loss is worse than the best
 * published one by more than {@code tolerance} (relative) is held back by the gate: not published,
 * counted, and logged to the gated topic; training goes on. Records the slice picks after the set
 * is complete are trained on.
 *
 * @param fraction the share of records held out, in [0, 0.5]; 0 turns evaluation (and the gate) off
 * @param cap how many records the eval set holds at most
 * @param tolerance how much worse than the best published eval loss a snapshot may be, e.g. 0.05
 * @param gate whether the gate holds snapshots back (else eval loss is only reported)
 */
public record EvalPolicy(double fraction, int cap, double tolerance, boolean gate) implements Serializable {
  public static final EvalPolicy OFF = new EvalPolicy(0, 0, 0, false);

  public EvalPolicy {
    if (!(fraction >= 0 && fraction <= 0.5)) {
      throw new BonestreamException("eval-fraction must be in [0, 0.5], got " + fraction);
    }
    if (fraction > 0 && cap < 1) {
      throw new BonestreamException("eval-cap must be ≥ 1 when eval-fraction is above 0, got " + cap);
    }
    if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
      throw new BonestreamException("gate-tolerance must be ≥ 0, got " + tolerance);
    }
  }

  public boolean enabled() {
    return fraction > 0;
  }

  /** Whether the slice holds this record out (before the set is complete). */
  public boolean heldOut(String adapterId, String exampleId, int[] inputIds) {
    if (!enabled()) {
      return false;
    }
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(adapterId.getBytes(StandardCharsets.UTF_8));
      sha.update((byte) 0);
      if (exampleId != null && !exampleId.isEmpty()) {
        sha.update(exampleId.getBytes(StandardCharsets.UTF_8));
      } else {
        for (int id : inputIds) {
          sha.update(new byte[] {(byte) (id >>> 24), (byte) (id >>> 16), (byte) (id >>> 8), (byte) id});
        }
      }
      byte[] h = sha.digest();
      long top = 0;
      for (int i = 0; i < 7; i++) {
        top = (top << 8) | (h[i] & 0xff);
      }
      return top / (double) (1L << 56) < fraction;
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whether the gate holds back a snapshot of {@code evalLoss} (NaN best: nothing to compare yet). */
  public boolean holdsBack(double evalLoss, double bestPublished) {
    if (!gate || Double.isNaN(bestPublished)) {
      return false;
    }
    return !(evalLoss <= bestPublished * (1 + tolerance)); // a NaN eval loss is held back too
  }
}
