package io.bonestream.engine.model;

import io.bonestream.core.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Keys and values of past positions for incremental decoding (batch of one). */
public final class KvCache {
  /** One layer's cache: keys and values, each (1, Hkv, capacity, hd), rotated keys. */
  public static final class Layer {
    private final INDArray keys;
    private final INDArray values;

    Layer(INDArray keys, INDArray values) {
      this.keys = keys;
      this.values = values;
    }

    void write(INDArray k, INDArray v, int start) {
      long end = start + k.size(2);
      keys.get(Attention.positions(start, end)).assign(k);
      values.get(Attention.positions(start, end)).assign(v);
    }

    INDArray keys(long length) {
      return keys.get(Attention.positions(0, length));
    }

    INDArray values(long length) {
      return values.get(Attention.positions(0, length));
    }
  }

  private final List<Layer> layers = new ArrayList<>();
  private final int capacity;
  private int length;

  public KvCache(ModelConfig c, int capacity, DataType type) {
    this.capacity = capacity;
    for (int i = 0; i < c.numLayers(); i++) {
      long[] shape = {1, c.numKvHeads(), capacity, c.headDim()};
      layers.add(new Layer(Nd4j.zeros(type, shape), Nd4j.zeros(type, shape)));
    }
  }

  public Layer layer(int i) {
    return layers.get(i);
  }

  /** Positions already in the cache. */
  public int length() {
    return length;
  }

  public int capacity() {
    return capacity;
  }

  void advance(int n) {
    length += n;
  }
}
