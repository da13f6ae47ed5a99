package io.bonestream.engine.backend;

import io.bonestream.core.model.HostTensor;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.TokenBatch;

/**
 * The math of training one adapter set on a frozen base model: the seam between the
 * backend-free training loop ({@link TrainingSession}, {@code Trainer}) and a place that computes,
 * the ND4J CPU engine or a GPU.
 *
 * <p>A backend holds the adapters' trainable values, their gradient accumulators and the optimizer
 * moments, each as one flat float32 array in the canonical order of
 * {@link io.bonestream.core.adapters.AdapterLayout} (layers ascending, projections in
 * {@link io.bonestream.core.model.Projection} order, a LoRA adapter's A before its B). That order
 * is the order of the training state, so a state saved by one backend resumes on another.
 *
 * <p>One step is: {@link #zeroGradients()}, {@link #forwardBackward} per micro-batch,
 * {@link #gradientNorm()}, and {@link #update} unless the step is skipped. Not thread-safe.
 */
public interface TrainingBackend extends AutoCloseable {
  /** A short description, e.g. {@code cpu} or {@code cuda bf16, NVIDIA H200}. */
  String describe();

  /** Number of trainable values (the length of the flat arrays). */
  long parameterCount();

  /** Sets every gradient accumulator to zero. */
  void zeroGradients();

  /**
   * Forward and backward over one micro-batch: adds dLoss/dθ to the gradients, where loss =
   * (weighted sum of the batch's token losses) / {@code lossDenominator}. Returns the sum.
   */
  LossSum forwardBackward(TokenBatch batch, double lossDenominator);

  /** The loss sum of a batch, no gradients. */
  LossSum loss(TokenBatch batch);

  /** The global L2 norm of the gradients; not finite when a gradient is not. */
  double gradientNorm();

  /**
   * Multiplies the gradients by {@code gradScale} unless it is 1 (norm clipping), then applies one
   * optimizer update at learning rate {@code lr}; {@code update} is the 1-based count of updates
   * including this one (AdamW's bias correction).
   */
  void update(double gradScale, double lr, long update);

  /** A copy of the trainable values. */
  float[] parameters();

  /** Replaces the trainable values. */
  void loadParameters(float[] values);

  /** Copies of the optimizer's moments (AdamW: first, second); empty for SGD. */
  float[][] moments();

  /** Replaces the optimizer's moments (AdamW: first, second). */
  void loadMoments(float[] first, float[] second);

  /**
   * Copies of the optimizer's moments in the precision the backend keeps them (AdamW: first,
   * second; empty for SGD): float32 by default; the ND4J engine's own data type, float64 where it
   * trains in float64, so that its state saves and restores exactly.
   */
  default java.util.List<HostTensor> momentTensors() {
    java.util.List<HostTensor> out = new java.util.ArrayList<>();
    for (float[] m : moments()) {
      out.add(HostTensor.of(m, m.length));
    }
    return out;
  }

  /** Replaces the optimizer's moments from tensors of any precision. */
  default void loadMomentTensors(HostTensor first, HostTensor second) {
    loadMoments(first.toFloats(), second.toFloats());
  }

  /**
   * Whether the backend trains the host adapters' own arrays in place (the ND4J engine, the CPU
   * device), so that they need no copy back after a step.
   */
  default boolean trainsHostAdapters() {
    return false;
  }

  /** Releases what the backend holds (device memory); the shared base model stays. */
  @Override
  void close();
}
