package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.engine.backend.Precision;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.List;

/**
 * The memory one adapter's training step needs on a device, found by running the device engine's
 * own code for that shape on a {@link CountingDevice}: what {@code DeviceModel},
 * {@code DeviceTrainer} and the pass's workspace allocate, so the plan follows the code (a formula
 * beside it would drift). Not counted: the CUDA context and cuBLAS's workspace (a few hundred MiB
 * on a GPU; {@code bench} reports what the GPU itself says), and the host side.
 *
 * @param weightBytes the frozen base model on the device (GEMM weights in the activation type)
 * @param adapterBytes the adapter's values, gradients, activation-type copy and AdamW moments
 * @param activationBytes the peak of one step above those two: the workspace and the method's scratch
 * @param hostAdapterBytes host memory each live adapter holds besides the JVM heap: its float32
 *     values and gradients (the host copy a device trainer refreshes when read)
 * @param hostCheckpointBytes host memory an adapter's checkpoint takes for a moment, one adapter at a
 *     time: its state (values and the two AdamW moments, float32) and their encoding
 */
public record MemoryPlan(long weightBytes, long adapterBytes, long activationBytes, long hostAdapterBytes,
    long hostCheckpointBytes) {
  /** The logits CUDA materialises at once (the device default). */
  public static final long CUDA_LOSS_CHUNK = 1L << 26;
  /** The logits the CPU device materialises at once: 2^23 values (32 MiB) keep a chunk near the cache. */
  public static final long CPU_LOSS_CHUNK = 1L << 23;

  /** Device bytes in all. */
  public long deviceBytes() {
    return weightBytes + adapterBytes + activationBytes;
  }

  /**
   * The plan of training {@code adapter} on a model of shape {@code model} with batches of
   * {@code batch} sequences of {@code seq} tokens, in {@code precision}, recomputing each layer in
   * the backward pass or not, on a device like CUDA (a side stream; {@link #CUDA_LOSS_CHUNK}
   * logits at once).
   */
  public static MemoryPlan of(ModelConfig model, AdapterConfig adapter, TrainConfig train, Precision precision,
      boolean recompute, int batch, int seq) {
    return of(model, adapter, train, precision, recompute, batch, seq, CUDA_LOSS_CHUNK, true);
  }

  /**
   * The plan on the CPU device (the {@code cpu} backend): float32, {@link #CPU_LOSS_CHUNK} logits at
   * once, no side stream. Its "device" memory is the TaskManager's native memory: the base model as
   * float32 arrays, the adapter and its optimizer, the activations.
   */
  public static MemoryPlan onCpu(ModelConfig model, AdapterConfig adapter, TrainConfig train, boolean recompute,
      int batch, int seq) {
    return of(model, adapter, train, Precision.FP32, recompute, batch, seq, CPU_LOSS_CHUNK, false);
  }

  /** As {@link #of(ModelConfig, AdapterConfig, TrainConfig, Precision, boolean, int, int)}, for another device's traits. */
  public static MemoryPlan of(ModelConfig model, AdapterConfig adapter, TrainConfig train, Precision precision,
      boolean recompute, int batch, int seq, long lossChunkElements, boolean sideStream) {
    CountingDevice d = new CountingDevice(lossChunkElements, sideStream);
    try (DeviceModel m = DeviceModel.random(d, model, precision, 0.02f, 0)) {
      long weights = d.allocatedBytes();
      DeviceTransformer t = new DeviceTransformer(m);
      long adapterBytes;
      long peak;
      try (DeviceTrainer trainer = DeviceTrainer.sized(t, adapter, train, recompute)) {
        adapterBytes = d.allocatedBytes() - weights;
        d.resetPeak();
        trainer.zeroGradients();
        trainer.forwardBackward(batchOf(batch, seq), batch * (double) seq);
        trainer.gradientNorm();
        trainer.update(1.0, train.lr(), 1);
        peak = d.peakAllocatedBytes();
      }
      long params = AdapterLayout.of(model, adapter).size();
      return new MemoryPlan(weights, adapterBytes, peak - weights - adapterBytes, params * 4L * 2, params * 4L * 3 * 2);
    }
  }

  private static TokenBatch batchOf(int batch, int seq) {
    List<int[]> ids = new ArrayList<>();
    List<int[]> labels = new ArrayList<>();
    for (int b = 0; b < batch; b++) {
      ids.add(new int[seq]);
      labels.add(new int[seq]);
    }
    return TokenBatch.of(ids, labels);
  }

  /** A buffer size in GiB, for people. */
  public static double gib(long bytes) {
    return bytes / (double) (1L << 30);
  }
}
