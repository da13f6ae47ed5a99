package io.bonestream.operators.train;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * The tokens each adapter trained on one subtask over the last {@code capacity} tokens that went
 * through it, trained or turned away: what {@link Quotas#maxShare()} is measured on. Turned-away
 * tokens age the window too, so an adapter that stopped sending leaves it, and a flood trains again
 * once its share has come down. Soft state, not checkpointed: after a restart the window fills
 * again.
 */
final class ShareWindow {
  private record Step(String adapterId, long tokens) {}

  private final long capacity;
  private final ArrayDeque<Step> steps = new ArrayDeque<>();
  private final Map<String, Long> byAdapter = new HashMap<>();
  private long total;

  ShareWindow(long capacity) {
    this.capacity = capacity;
  }

  void trained(String adapterId, long tokens) {
    add(new Step(adapterId, tokens));
  }

  /** Tokens turned away: they count in the window, for no adapter. */
  void turnedAway(long tokens) {
    add(new Step(null, tokens));
  }

  private void add(Step step) {
    steps.addLast(step);
    if (step.adapterId() != null) {
      byAdapter.merge(step.adapterId(), step.tokens(), Long::sum);
    }
    total += step.tokens();
    while (total - steps.peekFirst().tokens() >= capacity) {
      Step old = steps.removeFirst();
      total -= old.tokens();
      if (old.adapterId() != null) {
        byAdapter.computeIfPresent(old.adapterId(), (k, v) -> v == old.tokens() ? null : v - old.tokens());
      }
    }
  }

  /**
   * Whether {@code adapterId} took more than {@code maxShare} of a window at least half full while
   * another adapter trained in it too.
   */
  boolean overShare(String adapterId, double maxShare) {
    Long mine = byAdapter.get(adapterId);
    if (mine == null || byAdapter.size() < 2 || total * 2 < capacity) {
      return false;
    }
    return mine > maxShare * total;
  }
}
