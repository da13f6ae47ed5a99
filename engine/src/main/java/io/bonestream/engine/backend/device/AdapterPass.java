package io.bonestream.engine.backend.device;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.DevicePass;
import io.bonestream.engine.device.MergedWeights;
import io.bonestream.engine.device.MethodOnDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * One forward or backward pass of {@link DeviceTransformer} with an adapter set, as the method's
 * device math sees it: the model, the adapters and the workspace of the pass behind
 * {@link DevicePass}. A pass goes through its layers in order and, within each, through its
 * projections in order: every layer forward or backward, or, with activation recomputation, one
 * layer's recomputed forward pass and then that layer's backward pass.
 */
final class AdapterPass implements DevicePass {
  private final DeviceModel m;
  private final DeviceAdapters ad;
  private final Workspace w;
  private final int[] layers;
  private final Projection[] order;
  private MergedWeights merges;

  private AdapterPass(DeviceModel m, DeviceAdapters ad, Workspace w, int[] layers, Projection[] order) {
    this.m = m;
    this.ad = ad;
    this.w = w;
    this.layers = layers;
    this.order = order;
  }

  /** The forward pass over every layer. */
  static AdapterPass forward(DeviceModel m, DeviceAdapters ad, Workspace w) {
    int[] all = new int[m.config().numLayers()];
    for (int l = 0; l < all.length; l++) {
      all[l] = l;
    }
    return start(m, ad, w, all, DeviceTransformer.FORWARD_ORDER);
  }

  /** The backward pass over every layer, last first. */
  static AdapterPass backward(DeviceModel m, DeviceAdapters ad, Workspace w) {
    int[] all = new int[m.config().numLayers()];
    for (int l = 0; l < all.length; l++) {
      all[l] = all.length - 1 - l;
    }
    return start(m, ad, w, all, DeviceTransformer.BACKWARD_ORDER);
  }

  /** Layer l's forward pass again, for its backward pass: every projection but down_proj, whose output is not read. */
  static AdapterPass recomputing(DeviceModel m, DeviceAdapters ad, Workspace w, int l) {
    return start(m, ad, w, new int[] {l}, DeviceTransformer.RECOMPUTE_ORDER);
  }

  /** Layer l's backward pass alone. */
  static AdapterPass backwardOf(DeviceModel m, DeviceAdapters ad, Workspace w, int l) {
    return start(m, ad, w, new int[] {l}, DeviceTransformer.BACKWARD_ORDER);
  }

  /** A pass of {@code ad} on {@code w}, its merged weights (if the method merges) under way. */
  private static AdapterPass start(DeviceModel m, DeviceAdapters ad, Workspace w, int[] layers, Projection[] order) {
    AdapterPass pass = new AdapterPass(m, ad, w, layers, order);
    pass.merges = ad.onDevice.mergesFor(pass);
    return pass;
  }

  /** The method's math on a device. */
  MethodOnDevice method() {
    return ad.onDevice;
  }

  @Override
  public Device device() {
    return m.device();
  }

  @Override
  public ModelConfig config() {
    return m.config();
  }

  @Override
  public DType actType() {
    return m.activationType();
  }

  @Override
  public AdapterConfig adapterConfig() {
    return ad.config;
  }

  @Override
  public AdapterLayout.Site site(int layer, Projection p) {
    return ad.site(layer, p);
  }

  @Override
  public List<AdapterLayout.Site> sitesInOrder() {
    List<AdapterLayout.Site> out = new ArrayList<>();
    for (int l : layers) {
      for (Projection p : order) {
        AdapterLayout.Site s = ad.site(l, p);
        if (s != null) {
          out.add(s);
        }
      }
    }
    return out;
  }

  @Override
  public Buf weight(int layer, Projection p) {
    return m.layer(layer).weight(p);
  }

  @Override
  public Buf values(AdapterLayout.Site s, int i) {
    return DeviceAdapters.tensor(ad.values, s, i);
  }

  @Override
  public Buf valuesAct(AdapterLayout.Site s, int i) {
    return DeviceAdapters.tensor(ad.valuesAct, s, i);
  }

  @Override
  public Buf grads(AdapterLayout.Site s, int i) {
    return DeviceAdapters.tensor(ad.grads, s, i);
  }

  @Override
  public Buf tileMatrix(int rows, int cols) {
    return m.tileMatrix(rows, cols);
  }

  @Override
  public Buf rowScratch(int i) {
    return w.rowScratch[i];
  }

  @Override
  public Buf tileGradient() {
    return w.dTile;
  }

  @Override
  public MergedWeights merges() {
    return merges;
  }

  @Override
  public <T> T scratch(Class<T> kind, Function<Memory, T> make) {
    return w.scratch(kind, make);
  }
}
