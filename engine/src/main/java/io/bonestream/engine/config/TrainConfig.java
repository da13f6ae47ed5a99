package io.bonestream.engine.config;

import io.bonestream.core.BonestreamException;

/**
 * How to train: optimizer and its hyperparameters, schedule, batch shape, sequence limit, seed.
 * Immutable; build it with {@link #builder()}, which holds the defaults.
 *
 * @param maxGradNorm global gradient-norm clip (PyTorch's clip_grad_norm_); 0 disables it
 * @param totalSteps the length of a decaying schedule; 0 when training is open-ended
 * @param batchSize examples per micro-batch
 * @param gradAccum micro-batches per optimizer step; the loss is the mean over every target token
 *     of all of them, so accumulation equals one larger batch
 * @param scheduleStart the step at which the learning-rate schedule (warmup, then any decay) starts;
 *     0 unless training re-warmed (a drift's {@code on-drift: rewarm} sets it to the drift's step)
 */
public record TrainConfig(
    OptimizerKind optimizer,
    double lr,
    double weightDecay,
    double beta1,
    double beta2,
    double eps,
    double maxGradNorm,
    ScheduleKind schedule,
    long warmupSteps,
    long totalSteps,
    int batchSize,
    int gradAccum,
    int maxSeqLen,
    long seed,
    long scheduleStart) implements java.io.Serializable {

  public TrainConfig {
    check(lr > 0 && Double.isFinite(lr), "lr must be a positive number, got " + lr);
    check(weightDecay >= 0, "weight decay must be ≥ 0, got " + weightDecay);
    check(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
    check(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
    check(eps > 0, "eps must be positive, got " + eps);
    check(maxGradNorm >= 0, "max grad norm must be ≥ 0 (0 = no clipping), got " + maxGradNorm);
    check(warmupSteps >= 0, "warmup steps must be ≥ 0, got " + warmupSteps);
    check(totalSteps >= 0, "total steps must be ≥ 0, got " + totalSteps);
    check(schedule == ScheduleKind.CONSTANT || totalSteps > 0,
        "the " + schedule + " schedule needs a known number of steps");
    check(batchSize > 0, "batch size must be positive, got " + batchSize);
    check(gradAccum > 0, "gradient accumulation must be positive, got " + gradAccum);
    check(maxSeqLen > 1, "max sequence length must be at least 2, got " + maxSeqLen);
    check(scheduleStart >= 0, "schedule start must be ≥ 0, got " + scheduleStart);
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new BonestreamException(message);
    }
  }

  /**
   * The learning rate of 0-based step {@code step}: the schedule counted from {@link #scheduleStart},
   * so a re-warm at step S takes step S as the schedule's step 0 (warmup again from 0, reaching
   * {@code lr} at S + warmupSteps, then any decay over {@code totalSteps} from S). Steps before S
   * count as S (they are behind the re-warm and never run again).
   */
  public double learningRate(long step) {
    return lr * schedule.factor(Math.max(0, step - scheduleStart), warmupSteps, totalSteps);
  }

  public Builder toBuilder() {
    return new Builder().optimizer(optimizer).lr(lr).weightDecay(weightDecay).beta1(beta1)
        .beta2(beta2).eps(eps).maxGradNorm(maxGradNorm).schedule(schedule).warmupSteps(warmupSteps)
        .totalSteps(totalSteps).batchSize(batchSize).gradAccum(gradAccum).maxSeqLen(maxSeqLen)
        .seed(seed).scheduleStart(scheduleStart);
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Defaults: AdamW, lr 1e-4, no weight decay, betas 0.9/0.999, eps 1e-8, clip 1.0, constant, the
   * schedule starting at step 0.
   */
  public static final class Builder {
    private OptimizerKind optimizer = OptimizerKind.ADAMW;
    private double lr = 1e-4;
    private double weightDecay = 0.0;
    private double beta1 = 0.9;
    private double beta2 = 0.999;
    private double eps = 1e-8;
    private double maxGradNorm = 1.0;
    private ScheduleKind schedule = ScheduleKind.CONSTANT;
    private long warmupSteps = 0;
    private long totalSteps = 0;
    private int batchSize = 4;
    private int gradAccum = 1;
    private int maxSeqLen = 512;
    private long seed = 42;
    private long scheduleStart = 0;

    public Builder optimizer(OptimizerKind v) { optimizer = v; return this; }
    public Builder lr(double v) { lr = v; return this; }
    public Builder weightDecay(double v) { weightDecay = v; return this; }
    public Builder beta1(double v) { beta1 = v; return this; }
    public Builder beta2(double v) { beta2 = v; return this; }
    public Builder eps(double v) { eps = v; return this; }
    public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
    public Builder schedule(ScheduleKind v) { schedule = v; return this; }
    public Builder warmupSteps(long v) { warmupSteps = v; return this; }
    public Builder totalSteps(long v) { totalSteps = v; return this; }
    public Builder batchSize(int v) { batchSize = v; return this; }
    public Builder gradAccum(int v) { gradAccum = v; return this; }
    public Builder maxSeqLen(int v) { maxSeqLen = v; return this; }
    public Builder seed(long v) { seed = v; return this; }
    public Builder scheduleStart(long v) { scheduleStart = v; return this; }

    public TrainConfig build() {
      return new TrainConfig(optimizer, lr, weightDecay, beta1, beta2, eps, maxGradNorm, schedule,
          warmupSteps, totalSteps, batchSize, gradAccum, maxSeqLen, seed, scheduleStart);
    }
  }
}
