package io.bonestream.engine.backend;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.model.HostTensor;
import io.bonestream.engine.config.TrainConfig;
import java.util.Map;

/**
 * Everything needed to continue training an adapter exactly where it stopped, in plain Java memory
 * (no ND4J): configs, the base model's fingerprint, counters, the RNG, the adapter tensors and the
 * optimizer moments. Encoded by {@link TrainingStateCodec}; the streaming job keeps exactly these
 * bytes in its state, and every backend saves and restores it.
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
    Map<String, HostTensor> tensors) {

  public static final String EXP_AVG = "optimizer.exp_avg";
  public static final String EXP_AVG_SQ = "optimizer.exp_avg_sq";

  /** Bytes of tensor data (the bulk of the encoded size). */
  public long tensorBytes() {
    long n = 0;
    for (HostTensor t : tensors.values()) {
      n += t.length() * (t.isDouble() ? 8 : 4);
    }
    return n;
  }
}
