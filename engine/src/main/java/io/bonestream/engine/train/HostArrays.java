package io.bonestream.engine.train;

import io.bonestream.core.model.HostTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Host tensors (the training state's) to and from ND4J arrays, in their precision. */
public final class HostArrays {
  private HostArrays() {}

  /** A host copy of an ND4J array, float32 or float64 as the array is. */
  public static HostTensor hostTensor(INDArray t) {
    INDArray c = t.dup('c');
    return t.dataType() == DataType.DOUBLE
        ? HostTensor.ofDoubles(c.data().asDouble(), t.shape())
        : HostTensor.of(c.data().asFloat(), t.shape());
  }

  /** An ND4J array of a host tensor, in its own precision. */
  public static INDArray array(HostTensor t) {
    return t.isDouble() ? Nd4j.create(t.doubles(), t.shape(), 'c') : Nd4j.create(t.floats(), t.shape(), 'c');
  }

  /** A host tensor in float64 ({@code dbl}) or float32. */
  public static HostTensor inPrecision(HostTensor t, boolean dbl) {
    if (t.isDouble() == dbl) {
      return t;
    }
    if (dbl) {
      float[] f = t.floats();
      double[] d = new double[f.length];
      for (int i = 0; i < f.length; i++) {
        d[i] = f[i];
      }
      return HostTensor.ofDoubles(d, t.shape());
    }
    return HostTensor.of(t.toFloats(), t.shape());
  }
}
