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
 * {@link DevicePass}.
 */
final class AdapterPass implements DevicePass {
  private final DeviceModel m;
  private final DeviceAdapters ad;
  private final Workspace w;
  private final boolean backward;
  private MergedWeights merges;

  private AdapterPass(DeviceModel m, DeviceAdapters ad, Workspace w, boolean backward) {
    this.m = m;
    this.ad = ad;
    this.w = w;
    this.backward = backward;
  }

  /** A pass of {@code ad} on {@code w}, its merged weights (if the method merges) under way. */
  static AdapterPass start(DeviceModel m, DeviceAdapters ad, Workspace w, boolean backward) {
    AdapterPass pass = new AdapterPass(m, ad, w, backward);
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
    int layers = m.config().numLayers();
    for (int i = 0; i < layers; i++) {
      int l = backward ? layers - 1 - i : i;
      for (Projection p : backward ? DeviceTransformer.BACKWARD_ORDER : DeviceTransformer.FORWARD_ORDER) {
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
