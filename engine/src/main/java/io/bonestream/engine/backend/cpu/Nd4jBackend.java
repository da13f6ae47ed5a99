package io.bonestream.engine.backend.cpu;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.TrainingBackend;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.LossSum;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.util.Workspaces;
import java.util.List;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The reference engine on ND4J, the engine's original code ({@link Transformer}, the adapters of
 * an {@link AdapterSet}, {@link Optimizer}): any data type (float64 for gradient checks), the test
 * oracle of the device backends, and the {@code cpu} backend of models that are not float32. The
 * adapters' tensors are views of one flat array, so the trainer reads them in place.
 */
public final class Nd4jBackend implements TrainingBackend {
  private final AdapterSet adapters;
  private final Transformer model;
  private final Optimizer optimizer;

  public Nd4jBackend(BaseModel base, AdapterSet adapters, TrainConfig config) {
    this.adapters = adapters;
    this.model = new Transformer(base, adapters);
    this.optimizer = new Optimizer(config, adapters.flatParameters());
  }

  @Override
  public String describe() {
    return "cpu (nd4j reference engine)";
  }

  @Override
  public long parameterCount() {
    return adapters.parameterCount();
  }

  @Override
  public void zeroGradients() {
    adapters.zeroGradients();
  }

  @Override
  public LossSum forwardBackward(TokenBatch batch, double lossDenominator) {
    return model.forwardBackward(batch, lossDenominator);
  }

  @Override
  public LossSum loss(TokenBatch batch) {
    return model.loss(batch);
  }

  @Override
  public double gradientNorm() {
    return adapters.flatGradients().norm2Number().doubleValue();
  }

  @Override
  public void update(double gradScale, double lr, long update) {
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.UPDATE)) {
      INDArray grads = adapters.flatGradients();
      if (gradScale != 1.0) {
        grads.muli(gradScale);
      }
      optimizer.step(adapters.flatParameters(), grads, lr, update);
    }
  }

  @Override
  public float[] parameters() {
    return adapters.flatParameters().dup().data().asFloat();
  }

  @Override
  public void loadParameters(float[] values) {
    adapters.flatParameters().assign(Nd4j.create(values).castTo(adapters.flatParameters().dataType()));
  }

  @Override
  public float[][] moments() {
    List<INDArray> st = optimizer.stateTensors();
    return st.isEmpty() ? new float[0][] : new float[][] {
        st.get(0).dup().data().asFloat(), st.get(1).dup().data().asFloat()};
  }

  @Override
  public void loadMoments(float[] first, float[] second) {
    List<INDArray> st = optimizer.stateTensors();
    st.get(0).assign(Nd4j.create(first).castTo(st.get(0).dataType()));
    st.get(1).assign(Nd4j.create(second).castTo(st.get(1).dataType()));
  }

  /** The live optimizer (its moments are read in place for the training state). */
  @Override
  public java.util.List<io.bonestream.core.model.HostTensor> momentTensors() {
    java.util.List<io.bonestream.core.model.HostTensor> out = new java.util.ArrayList<>();
    for (INDArray m : optimizer.stateTensors()) {
      INDArray c = m.dup('c');
      out.add(m.dataType() == org.nd4j.linalg.api.buffer.DataType.DOUBLE
          ? io.bonestream.core.model.HostTensor.ofDoubles(c.data().asDouble(), m.shape())
          : io.bonestream.core.model.HostTensor.of(c.data().asFloat(), m.shape()));
    }
    return out;
  }

  @Override
  public void loadMomentTensors(io.bonestream.core.model.HostTensor first,
      io.bonestream.core.model.HostTensor second) {
    List<INDArray> st = optimizer.stateTensors();
    io.bonestream.core.model.HostTensor[] from = {first, second};
    for (int i = 0; i < 2; i++) {
      io.bonestream.core.model.HostTensor h = from[i];
      INDArray a = h.isDouble() ? Nd4j.create(h.doubles(), new long[] {h.length()}, 'c')
          : Nd4j.create(h.floats(), new long[] {h.length()}, 'c');
      st.get(i).assign(a.reshape(st.get(i).shape()).castTo(st.get(i).dataType()));
    }
  }

  public Optimizer optimizer() {
    return optimizer;
  }

  public Transformer model() {
    return model;
  }

  @Override
  public boolean trainsHostAdapters() {
    return true;
  }

  @Override
  public void close() {}
}
