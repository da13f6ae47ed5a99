package io.bonestream.engine.backend;

import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.config.TrainConfig;
import java.util.Map;

/**
 * A training state with its tensors in plain Java memory: the backend-free twin of
 * {@code train.TrainingState}, encoded to the same bytes by
 * {@link StateCodec}. Tensors: adapter tensors under their PEFT keys, then (AdamW) the flat moments
 * under {@code optimizer.exp_avg} and {@code optimizer.exp_avg_sq}.
 */
public record HostState(
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
}
