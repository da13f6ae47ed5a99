package io.bonestream.engine.adapters.bat;

import io.bonestream.core.model.Projection;
import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.MergedWeights;
import java.util.List;
import java.util.function.Supplier;

/**
 * bat's scratch of one projection at a time (its merged weight W + ΔW, its M = Gᵀx) and the order
 * of bat's work between a device's two streams.
 *
 * <p>bat spends its extra time in memory-bound kernels (the merges, dB) beside compute-bound GEMMs.
 * On a device with a side stream, a pass's merges are made ahead there, into a ring of
 * {@value #MERGE_DEPTH} buffers: while the main stream multiplies by one merged weight, the next
 * two are being merged. The dB of a projection runs there too, after its M GEMM, while the main
 * stream goes on with the input gradient (two M buffers). Without a side stream the ring has one
 * buffer, and each merge and dB runs where its call comes, as before.
 *
 * <p>Order, by events: a pass's side work starts after every main call before the pass (the
 * optimizer's update of the blocks, the zeroed gradients); a merge waits until the GEMM that read
 * the previous weight of its buffer is done, its GEMM waits for it; dB waits for its M GEMM, the
 * next M GEMM into that buffer for it; {@link #join} makes the main stream wait for all of it.
 */
final class BatScratch {
  /** Merged weights in flight with a side stream: the one in use and two ahead. */
  static final int MERGE_DEPTH = 3;

  /** One merge: W' (out, in) = W + ΔW of the blocks of (layer, projection). */
  record Merge(int layer, Projection projection, Buf weight, Buf blocks, Buf blocksAct, int out, int in, int r) { }

  private final Device d;
  private final Buf[] merged;
  private final Device.Event[] mergeDone;
  private final Device.Event[] mergeFree;
  private final Buf[] grads;
  private final Device.Event[] gradReady;
  private final Device.Event[] gradFree;
  private final Device.Event passStart;
  private final Device.Event sideDone;
  private int nextGrad;

  BatScratch(Device d, Supplier<Buf> alloc) {
    this.d = d;
    boolean side = d.hasSideStream();
    merged = new Buf[side ? MERGE_DEPTH : 1];
    grads = new Buf[side ? 2 : 1];
    mergeDone = events(merged.length);
    mergeFree = events(merged.length);
    gradReady = events(grads.length);
    gradFree = events(grads.length);
    for (int i = 0; i < merged.length; i++) {
      merged[i] = alloc.get();
    }
    for (int i = 0; i < grads.length; i++) {
      grads[i] = alloc.get();
    }
    passStart = d.newEvent();
    sideDone = d.newEvent();
  }

  private Device.Event[] events(int n) {
    Device.Event[] e = new Device.Event[n];
    for (int i = 0; i < n; i++) {
      e[i] = d.newEvent();
    }
    return e;
  }

  /** The merges of one pass, in the order it takes them ({@link Pass#take}, then {@link Pass#release}). */
  Pass pass(List<Merge> order) {
    d.record(passStart);
    d.onSide(() -> d.await(passStart));
    return new Pass(order);
  }

  /** One pass's merges: made up to {@code merged.length} ahead of the one in use. */
  final class Pass implements MergedWeights {
    private final List<Merge> order;
    private int issued;
    private int used;

    private Pass(List<Merge> order) {
      this.order = order;
    }

    /** The merged weight of (layer, p), the pass's next merge; the main stream waits for it. */
    @Override
    public Buf take(int layer, Projection p) {
      if (used >= order.size() || order.get(used).layer() != layer || order.get(used).projection() != p) {
        throw new IllegalStateException("bat merge of layer " + layer + " " + p + " taken out of order");
      }
      while (issued < order.size() && issued < used + merged.length) {
        issue(issued++);
      }
      int slot = used % merged.length;
      d.await(mergeDone[slot]);
      Merge m = order.get(used);
      return merged[slot].slice(0, (long) m.out() * m.in());
    }

    /** The GEMMs reading the weight {@link #take} gave are issued: its buffer may be merged into again. */
    @Override
    public void release() {
      d.record(mergeFree[used % merged.length]);
      used++;
    }

    private void issue(int i) {
      int slot = i % merged.length;
      Merge m = order.get(i);
      Buf out = merged[slot].slice(0, (long) m.out() * m.in());
      d.onSide(() -> {
        d.await(mergeFree[slot]);
        d.batMerge(m.weight(), m.blocks(), m.blocksAct(), out, m.out(), m.in(), m.r());
        d.record(mergeDone[slot]);
      });
    }
  }

  /**
   * The buffer for the next M = Gᵀx (out · in values), once the dB that last read it is done; then
   * {@link #blockGrad} with the same shape.
   */
  Buf grad(long size) {
    d.await(gradFree[nextGrad]);
    return grads[nextGrad].slice(0, size);
  }

  /** dBlocks += Σ_b (W_{a,b} + I)ᵀ M_{a,b} from the M just written into {@link #grad}'s buffer. */
  void blockGrad(Buf weight, Buf dBlocks, int out, int in, int r) {
    int slot = nextGrad;
    nextGrad = (nextGrad + 1) % grads.length;
    Buf mg = grads[slot].slice(0, (long) out * in);
    d.record(gradReady[slot]);
    d.onSide(() -> {
      d.await(gradReady[slot]);
      d.batBlockGrad(weight, mg, dBlocks, out, in, r);
      d.record(gradFree[slot]);
    });
  }

  /** The main stream's later work waits for all side work so far (the gradients are complete). */
  void join() {
    d.onSide(() -> d.record(sideDone));
    d.await(sideDone);
  }
}
