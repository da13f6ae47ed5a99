package io.bonestream.engine.train;

import io.bonestream.engine.adapters.AdapterConfig;
import io.bonestream.engine.backend.HostState;
import io.bonestream.engine.backend.HostTensor;
import io.bonestream.engine.backend.StateCodec;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The binary form of a {@link TrainingState}, round-tripping bit-exactly ({@link StateCodec} holds
 * the format; this class converts between ND4J arrays and host tensors):
 *
 * <pre>
 * "BSTS"  u16 format version (1)
 * u32 length + UTF-8 JSON header: adapter and train configs, fingerprint, counters, RNG state
 * u32 tensor count, then per tensor: u16 length + UTF-8 name, u8 dtype (0 float32, 1 float64),
 *     u8 rank, i64 dims, the values little-endian
 * </pre>
 */
public final class TrainingStateCodec {
  public static final int FORMAT_VERSION = StateCodec.FORMAT_VERSION;

  private TrainingStateCodec() {}

  public static byte[] encode(TrainingState s) {
    return StateCodec.encode(toHost(s));
  }

  public static TrainingState decode(byte[] data) {
    return fromHost(StateCodec.decode(data));
  }

  /** The state with its tensors copied to host arrays. */
  public static HostState toHost(TrainingState s) {
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    s.tensors().forEach((k, t) -> tensors.put(k, hostTensor(t)));
    return new HostState(s.adapterConfig(), s.trainConfig(), s.baseFingerprint(), s.step(),
        s.updates(), s.skippedSteps(), s.rngState(), s.tokensSeen(), s.examplesSeen(), tensors);
  }

  /** A host copy of an ND4J array, in its precision (float32 or float64). */
  public static HostTensor hostTensor(INDArray t) {
    INDArray c = t.dup('c');
    return t.dataType() == DataType.DOUBLE
        ? HostTensor.ofDoubles(c.data().asDouble(), t.shape())
        : HostTensor.of(c.data().asFloat(), t.shape());
  }

  /** An ND4J array of a host tensor, in {@code type}. */
  public static INDArray array(HostTensor t, DataType type) {
    INDArray a = t.isDouble() ? Nd4j.create(t.doubles(), t.shape(), 'c') : Nd4j.create(t.floats(), t.shape(), 'c');
    return a.dataType() == type ? a : a.castTo(type);
  }

  /** The state with its tensors as ND4J arrays. */
  public static TrainingState fromHost(HostState s) {
    Map<String, INDArray> tensors = new LinkedHashMap<>();
    s.tensors().forEach((k, t) -> tensors.put(k, t.isDouble()
        ? Nd4j.create(t.doubles(), t.shape(), 'c') : Nd4j.create(t.floats(), t.shape(), 'c')));
    return new TrainingState(s.adapterConfig(), s.trainConfig(), s.baseFingerprint(), s.step(),
        s.updates(), s.skippedSteps(), s.rngState(), s.tokensSeen(), s.examplesSeen(), tensors);
  }
}
