package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import java.io.Serializable;

/**
 * How much of a job one tenant can take.
 *
 * @param maxAdapters distinct adapters the job trains at most (0 = no cap); records of a new
 *     adapter over the cap go to the dead-letter topic ({@code OVER_ADAPTER_LIMIT}). The first
 *     adapters seen since the cap was switched on are the ones admitted.
 * @param maxShare the share of a training subtask's recent work (tokens trained, over the last
 *     {@code shareWindowTokens}) one adapter may take while other adapters train there too (1 = no
 *     limit); its records over it go to the dead-letter topic ({@code OVER_SHARE}) so that a flood
 *     cannot starve the others. Which records are turned away depends on how adapters' records
 *     interleave, so with a share below 1 a replay after a failure may train other records than
 *     the failed attempt did (each record is still trained or dead-lettered exactly once).
 */
public record Quotas(int maxAdapters, double maxShare, long shareWindowTokens) implements Serializable {
  public static final Quotas NONE = new Quotas(0, 1.0, 65_536);

  public Quotas {
    if (maxAdapters < 0) {
      throw new BonestreamException("max-adapters must be ≥ 0 (0 = no cap), got " + maxAdapters);
    }
    if (!(maxShare > 0 && maxShare <= 1)) {
      throw new BonestreamException("max-share must be in (0, 1], got " + maxShare);
    }
    if (shareWindowTokens < 1) {
      throw new BonestreamException("share-window-tokens must be ≥ 1, got " + shareWindowTokens);
    }
  }

  public boolean sharesLimited() {
    return maxShare < 1;
  }
}
