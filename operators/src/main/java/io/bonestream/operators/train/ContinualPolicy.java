package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * An adapter's guards against the two failures of continual learning (docs/continual.md): the
 * anchor guard (drifting away from the base model's general ability), replay (forgetting earlier
 * data when the stream moves on), the drift signal and its policy, and erasure's retraining. Each
 * part is off unless configured.
 */
public record ContinualPolicy(Anchor anchor, Replay replay, Drift drift, boolean retrainOnErasure)
    implements Serializable {
  public static final ContinualPolicy OFF = new ContinualPolicy(Anchor.OFF, Replay.OFF, Drift.OFF, false);

  public ContinualPolicy {
    if (anchor == null || replay == null || drift == null) {
      throw new BonestreamException("continual policy: anchor, replay and drift must be given (their OFF values turn them off)");
    }
  }

  /**
   * A fixed set of general records (the JSONL lines of {@code source}, in any {@code train} format),
   * the same for every adapter of a base model, scored at due snapshots, at most every
   * {@code everyVersions}-th (1: every one) and, with {@code everyTokens} above 0, only once that many
   * tokens were trained since the last scoring; records past {@code maxTokens} tokens are not used
   * (0: all). The gate holds back a snapshot whose anchor loss is above the base model's by more than
   * {@code tolerance} (relative), when {@code gate}.
   */
  public record Anchor(String source, List<String> lines, int everyVersions, long everyTokens, long maxTokens,
      double tolerance, boolean gate) implements Serializable {
    public static final Anchor OFF = new Anchor("", List.of(), 1, 0, 0, 0, false);

    /** Scored every {@code everyVersions}-th due snapshot, whatever the tokens trained between. */
    public Anchor(String source, List<String> lines, int everyVersions, long maxTokens, double tolerance,
        boolean gate) {
      this(source, lines, everyVersions, 0, maxTokens, tolerance, gate);
    }

    public Anchor {
      lines = List.copyOf(lines);
      if (everyVersions < 1) {
        throw new BonestreamException("anchor every-versions must be ≥ 1, got " + everyVersions);
      }
      if (everyTokens < 0) {
        throw new BonestreamException("anchor every-tokens must be ≥ 0, got " + everyTokens);
      }
      if (maxTokens < 0) {
        throw new BonestreamException("anchor max-tokens must be ≥ 0, got " + maxTokens);
      }
      if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
        throw new BonestreamException("anchor tolerance must be ≥ 0, got " + tolerance);
      }
    }

    public boolean enabled() {
      return !lines.isEmpty();
    }

    /**
     * Whether the guard holds back a snapshot of {@code anchorLoss} against the base model's (a
     * non-finite anchor loss is held back too); never when the gate is off.
     */
    public boolean holdsBack(double anchorLoss, double baseAnchorLoss) {
      return gate && !(anchorLoss <= baseAnchorLoss * (1 + tolerance));
    }
  }

  /**
   * Replay: a reservoir of up to {@code capacity} past training examples (and {@code maxBytes}) per
   * adapter; each step mixes in {@code round(ratio × new examples)} of them (at least one when the
   * ratio is above 0 and the reservoir holds any).
   */
  public record Replay(double ratio, int capacity, long maxBytes) implements Serializable {
    public static final Replay OFF = new Replay(0, 1, 1);

    public Replay {
      if (!(ratio >= 0 && ratio <= 4)) {
        throw new BonestreamException("replay ratio must be in [0, 4], got " + ratio);
      }
      if (capacity < 1 || maxBytes < 1) {
        throw new BonestreamException("replay capacity and max-bytes must be ≥ 1");
      }
    }

    public boolean enabled() {
      return ratio > 0;
    }

    /** How many replays a step of {@code fresh} new examples mixes in. */
    public int replaysFor(int fresh) {
      return enabled() ? Math.max(1, (int) Math.round(ratio * fresh)) : 0;
    }
  }

  /** What a drift event does besides being reported. */
  public enum OnDrift {
    /** Reported only: a metric, a field of the next manifest, a log line. */
    NONE,
    /** The learning-rate schedule starts over at the drift's step (warmup again, then any decay). */
    REWARM,
    /**
     * The gate keeps the last version before the drift as the one in use: the eval set starts
     * again from the new data, and no snapshot is published until it is full.
     */
    PIN;

    public static OnDrift fromId(String id) {
      for (OnDrift d : values()) {
        if (d.name().toLowerCase(Locale.ROOT).equals(id)) {
          return d;
        }
      }
      throw new BonestreamException("on-drift must be none, rewarm or pin, got '" + id + "'");
    }
  }

  /**
   * The drift signal: each batch's loss before its step against the adapter's recent loss average
   * ({@link DriftDetector}: average factor {@code alpha}, {@code k} spreads and {@code minRise}
   * relative rise, {@code sustain} batches in a row, none in the first {@code warmup} batches).
   */
  public record Drift(boolean enabled, double alpha, double k, double minRise, int sustain, int warmup,
      OnDrift onDrift) implements Serializable {
    public static final Drift OFF = new Drift(false, 0.2, 3.0, 0.5, 3, 8, OnDrift.NONE);
    public static final Drift DEFAULT = new Drift(true, 0.2, 3.0, 0.5, 3, 8, OnDrift.NONE);

    public Drift {
      if (!(alpha > 0 && alpha <= 1) || !(k >= 0) || !(minRise >= 0) || sustain < 1 || warmup < 1) {
        throw new BonestreamException("drift: 0 < alpha ≤ 1, k ≥ 0, min-rise ≥ 0, sustain ≥ 1, warmup ≥ 1");
      }
      if (onDrift == null) {
        throw new BonestreamException("drift: on-drift must be given");
      }
    }

    DriftDetector.Settings settings() {
      return new DriftDetector.Settings(alpha, k, minRise, sustain, warmup);
    }
  }
}
