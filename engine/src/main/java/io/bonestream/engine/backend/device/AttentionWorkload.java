package io.bonestream.engine.backend.device;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import io.bonestream.engine.device.Distance;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One fused causal attention problem on a device, for what runs the attention kernels alone (the
 * kernel benchmarks, the CUDA device's start check of its tensor-core kernels): q, k, v and dOut
 * drawn from N(0, 1) on the device, and the outputs out, lse, dq, dk, dv. Layouts as
 * {@link Device#attentionForward}: q, out, dOut, dq (B, H, T, hd); k, v, dk, dv (B, Hkv, T, hd);
 * lse (B, H, T). Activations (q, k, v, out, dOut) of the given type, the rest float32.
 */
public final class AttentionWorkload implements AutoCloseable {
  /** The results, in the order of {@link #results()}. */
  public static final List<String> RESULTS = List.of("out", "dq", "dk", "dv");

  private final Device d;
  private final int batch;
  private final int kvHeads;
  private final int group;
  private final int seq;
  private final int headDim;
  private final float scale;
  private final List<Buf> all = new ArrayList<>();
  private final Buf q;
  private final Buf k;
  private final Buf v;
  private final Buf out;
  private final Buf lse;
  private final Buf dOut;
  private final Buf dq;
  private final Buf dk;
  private final Buf dv;

  /** Allocates and draws the inputs (q from {@code seed}, k, v, dOut from the next seeds). */
  public AttentionWorkload(Device device, DType act, int batch, int kvHeads, int group, int seq, int headDim,
      long seed) {
    if (batch < 1 || kvHeads < 1 || group < 1 || seq < 1 || headDim < 1) {
      throw new IllegalArgumentException("attention workload: batch " + batch + ", " + kvHeads + " kv heads, group "
          + group + ", seq " + seq + ", hd " + headDim);
    }
    this.d = device;
    this.batch = batch;
    this.kvHeads = kvHeads;
    this.group = group;
    this.seq = seq;
    this.headDim = headDim;
    this.scale = (float) (1 / Math.sqrt(headDim));
    long nq = (long) batch * kvHeads * group * seq * headDim;
    long nkv = (long) batch * kvHeads * seq * headDim;
    try {
      q = alloc(act, nq);
      k = alloc(act, nkv);
      v = alloc(act, nkv);
      out = alloc(act, nq);
      lse = alloc(DType.F32, nq / headDim);
      dOut = alloc(act, nq);
      dq = alloc(DType.F32, nq);
      dk = alloc(DType.F32, nkv);
      dv = alloc(DType.F32, nkv);
      d.randomNormal(q, 1f, seed);
      d.randomNormal(k, 1f, seed + 1);
      d.randomNormal(v, 1f, seed + 2);
      d.randomNormal(dOut, 1f, seed + 3);
    } catch (RuntimeException e) {
      close();
      throw e;
    }
  }

  private Buf alloc(DType type, long size) {
    Buf b = d.alloc(type, size);
    all.add(b);
    return b;
  }

  /** The queries (for a device's choice of kernels by type and alignment). */
  public Buf q() {
    return q;
  }

  /** out and lse from q, k, v. */
  public void forward() {
    d.attentionForward(q, k, v, out, lse, batch, kvHeads, group, seq, headDim, scale);
  }

  /** dq, dk, dv from dOut (after {@link #forward()}). */
  public void backward() {
    d.attentionBackward(q, k, v, out, dOut, lse, dq, dk, dv, batch, kvHeads, group, seq, headDim, scale);
  }

  /** Zeroes the outputs: a kernel that writes nothing then cannot pass for one that agrees. */
  public void clearOutputs() {
    for (Buf b : new Buf[] {out, lse, dq, dk, dv}) {
      d.zero(b);
    }
  }

  /**
   * The outputs cleared, then the forward and the backward pass: their results (what a check
   * compares; a kernel that writes nothing leaves zeros).
   */
  public float[][] solve() {
    clearOutputs();
    forward();
    backward();
    return results();
  }

  /** out, dq, dk, dv as float32, in the order of {@link #RESULTS}. */
  public float[][] results() {
    return new float[][] {d.download(out), d.download(dq), d.download(dk), d.download(dv)};
  }

  /** The causal half of the forward pass's products, 4·B·H·T²·hd / 2 (the backward pass: 2.5×). */
  public double forwardFlops() {
    return 4.0 * batch * kvHeads * group * (double) seq * seq * headDim / 2;
  }

  /** Each result's relative L2 distance to the reference's, in the order of {@link #RESULTS}. */
  public static double[] distances(float[][] results, float[][] reference) {
    double[] out = new double[RESULTS.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = Distance.relL2(results[i], reference[i]);
    }
    return out;
  }

  /** "out 1.2e-07, dq ..., dk ..., dv ...". */
  public static String describe(double[] distances) {
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < distances.length; i++) {
      parts.add(String.format(Locale.ROOT, "%s %.2e", RESULTS.get(i), distances[i]));
    }
    return String.join(", ", parts);
  }

  @Override
  public void close() {
    for (Buf b : all) {
      d.free(b);
    }
    all.clear();
  }
}
