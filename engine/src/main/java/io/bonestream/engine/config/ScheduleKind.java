package io.bonestream.engine.config;

import io.bonestream.core.util.Named;

/**
 * Learning-rate schedules, as Hugging Face's {@code get_*_schedule_with_warmup} define them: a
 * linear warmup from 0 over the warmup steps, then constant, linear decay to 0, or half a cosine
 * down to 0 at the last step.
 */
public enum ScheduleKind implements Named {
  CONSTANT("constant"),
  LINEAR("linear"),
  COSINE("cosine");

  private final String id;

  ScheduleKind(String id) {
    this.id = id;
  }

  @Override
  public String id() {
    return id;
  }

  public static ScheduleKind fromId(String id) {
    return Named.parse(ScheduleKind.class, id, "schedule");
  }

  /**
   * The multiplier of the base learning rate at 0-based {@code step}. Decaying schedules need
   * {@code totalSteps} > 0; past it they stay at 0.
   */
  public double factor(long step, long warmupSteps, long totalSteps) {
    if (step < warmupSteps) {
      return (double) step / Math.max(1, warmupSteps);
    }
    if (this == CONSTANT) {
      return 1.0;
    }
    double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
    if (this == LINEAR) {
      return Math.max(0.0, 1.0 - progress);
    }
    return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
  }

  @Override
  public String toString() {
    return id;
  }
}
