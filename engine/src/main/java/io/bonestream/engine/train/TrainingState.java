package io.bonestream.engine.train;

import io.bonestream.engine.config.TrainConfig;

import io.bonestream.engine.adapters.AdapterConfig;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Everything needed to continue training an adapter exactly where it stopped: configs, the base
 * model's fingerprint, counters, the RNG, the adapter tensors and the optimizer moments. Encoded
 * by {@link TrainingStateCodec}; the streaming job keeps exactly this in its state.
 *
 * @param step optimizer steps taken, skipped ones included (the schedule position)
 * @param updates steps that updated the adapter (AdamW's bias-correction count)
 * @param skippedSteps steps skipped because of a non-finite loss or gradient
 * @param tensors adapter tensors under their PEFT keys, then, for AdamW, the moments of all
 *     parameters as flat arrays (in the order of the adapter tensors) under
 *     {@code optimizer.exp_avg} and {@code optimizer.exp_avg_sq}
 */
public record TrainingState(
    AdapterConfig adapterConfig,
    TrainConfig trainConfig,
    String baseFingerprint,
    long step,
    long updates,
    long skippedSteps,
    long rngState,
    long tokensSeen,
    long examplesSeen,
    Map<String, INDArray> tensors) {

  public static final String EXP_AVG = io.bonestream.engine.backend.HostState.EXP_AVG;
  public static final String EXP_AVG_SQ = io.bonestream.engine.backend.HostState.EXP_AVG_SQ;

  /** Bytes of tensor data (the bulk of the encoded size). */
  public long tensorBytes() {
    long n = 0;
    for (INDArray t : tensors.values()) {
      n += t.length() * t.dataType().width();
    }
    return n;
  }
}
