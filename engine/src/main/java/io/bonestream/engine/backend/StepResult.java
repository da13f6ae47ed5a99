package io.bonestream.engine.backend;

/**
 * The outcome of one optimizer step.
 *
 * @param step the 0-based index of this step
 * @param loss mean cross-entropy over the step's target tokens, before the update
 * @param gradNorm the global L2 norm of the gradients, before clipping
 * @param skipped true when the loss or a gradient was not finite: nothing was updated
 * @param tokens input tokens of the step (without padding)
 * @param targetTokens tokens that counted in the loss
 */
public record StepResult(long step, double loss, double gradNorm, double lr, boolean skipped,
    int examples, long tokens, long targetTokens, double seconds) {}
