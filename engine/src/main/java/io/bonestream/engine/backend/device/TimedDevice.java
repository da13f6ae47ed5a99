package io.bonestream.engine.backend.device;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A {@link Device} that times every operation of another one (waiting for it after each), by
 * operation and, for GEMMs, by shape: where a step's time goes ({@code bench --profile}). The
 * waits make the whole slower on a GPU; on the CPU, where every call is synchronous, they cost
 * nothing.
 */
public final class TimedDevice implements Device {
  /** Time and calls of one operation. */
  public static final class Tally {
    long nanos;
    long calls;

    public long nanos() {
      return nanos;
    }

    public long calls() {
      return calls;
    }
  }

  private final Device d;
  private final Map<String, Tally> tallies = new LinkedHashMap<>();

  public TimedDevice(Device device) {
    this.d = device;
  }

  /** Time per operation since the last {@link #reset()}, in first-call order. */
  public synchronized Map<String, Tally> tallies() {
    return new LinkedHashMap<>(tallies);
  }

  public synchronized void reset() {
    tallies.clear();
  }

  private long start() {
    return System.nanoTime();
  }

  private void stop(String op, long start) {
    d.synchronize();
    long t = System.nanoTime() - start;
    synchronized (this) {
      Tally y = tallies.computeIfAbsent(op, k -> new Tally());
      y.nanos += t;
      y.calls++;
    }
  }

  private static String gemmName(String kind, boolean ta, boolean tb, int m, int n, int k) {
    return kind + " " + (ta ? "T" : "N") + (tb ? "T" : "N") + " " + m + "x" + n + "x" + k;
  }

  @Override
  public String describe() {
    return d.describe() + ", timed";
  }

  @Override
  public Buf alloc(DType type, long size) {
    return d.alloc(type, size);
  }

  @Override
  public void free(Buf buf) {
    d.free(buf);
  }

  @Override
  public long allocatedBytes() {
    return d.allocatedBytes();
  }

  @Override
  public long peakAllocatedBytes() {
    return d.peakAllocatedBytes();
  }

  @Override
  public void resetPeak() {
    d.resetPeak();
  }

  @Override
  public void upload(float[] src, Buf dst) {
    long t = start();
    d.upload(src, dst);
    stop("upload", t);
  }

  @Override
  public void upload(int[] src, Buf dst) {
    long t = start();
    d.upload(src, dst);
    stop("upload", t);
  }

  @Override
  public float[] download(Buf src) {
    long t = start();
    float[] out = d.download(src);
    stop("download", t);
    return out;
  }

  @Override
  public void copy(Buf src, Buf dst) {
    long t = start();
    d.copy(src, dst);
    stop("copy", t);
  }

  @Override
  public void zero(Buf buf) {
    long t = start();
    d.zero(buf);
    stop("zero", t);
  }

  @Override
  public void synchronize() {
    d.synchronize();
  }

  @Override
  public boolean hasSideStream() {
    return d.hasSideStream();
  }

  @Override
  public void onSide(Runnable work) {
    d.onSide(work);
  }

  @Override
  public Event newEvent() {
    return d.newEvent();
  }

  @Override
  public void record(Event event) {
    d.record(event);
  }

  @Override
  public void await(Event event) {
    d.await(event);
  }

  @Override
  public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda, Buf b, int ldb,
      float beta, Buf c, int ldc) {
    long t = start();
    d.gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    stop(gemmName("gemm", transA, transB, m, n, k), t);
  }

  @Override
  public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      long strideA, Buf b, int ldb, long strideB, float beta, Buf c, int ldc, long strideC, int batch) {
    long t = start();
    d.gemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
    stop(gemmName("gemmBatched " + batch + "×", transA, transB, m, n, k), t);
  }

  @Override
  public void embed(Buf ids, Buf table, Buf out, int rows, int dim) {
    long t = start();
    d.embed(ids, table, out, rows, dim);
    stop("embed", t);
  }

  @Override
  public void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim) {
    long t = start();
    d.rmsnormForward(x, w, eps, out, invRms, rows, dim);
    stop("rmsnormForward", t);
  }

  @Override
  public void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int r, Buf dx, Buf dxAct, int rows,
      int dim, boolean accumulate) {
    long t = start();
    d.rmsnormBackward(x, w, invRms, dy, dyTile, r, dx, dxAct, rows, dim, accumulate);
    stop("rmsnormBackward", t);
  }

  @Override
  public void toHeads(Buf in, Buf inTile, int r, Buf cos, Buf sin, Buf out, int batch, int seq, int heads,
      int headDim, boolean rotate) {
    long t = start();
    d.toHeads(in, inTile, r, cos, sin, out, batch, seq, heads, headDim, rotate);
    stop("toHeads", t);
  }

  @Override
  public void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate) {
    long t = start();
    d.fromHeads(in, cos, sin, out, batch, seq, heads, headDim, unrotate);
    stop("fromHeads", t);
  }

  @Override
  public void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
      int headDim, float scale) {
    long t = start();
    d.attentionForward(q, k, v, out, lse, batch, kvHeads, group, seq, headDim, scale);
    stop("attentionForward", t);
  }

  @Override
  public void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv, int batch,
      int kvHeads, int group, int seq, int headDim, float scale) {
    long t = start();
    d.attentionBackward(q, k, v, out, dOut, lse, dq, dk, dv, batch, kvHeads, group, seq, headDim, scale);
    stop("attentionBackward", t);
  }

  @Override
  public void swiglu(Buf gate, Buf up, Buf out, long n) {
    long t = start();
    d.swiglu(gate, up, out, n);
    stop("swiglu", t);
  }

  @Override
  public void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp, Buf out, int rows,
      int cols) {
    long t = start();
    d.swigluBackward(gate, up, dOut, dOutTile, r, dGate, dUp, out, rows, cols);
    stop("swigluBackward", t);
  }

  @Override
  public void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss, Buf dLogits, int rows,
      int vocab) {
    long t = start();
    d.crossEntropy(logits, targets, weights, gradScale, rowLoss, dLogits, rows, vocab);
    stop("crossEntropy", t);
  }

  @Override
  public void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) {
    long t = start();
    d.batMerge(w, blocks, blocksAct, out, outF, inF, r);
    stop("batMerge", t);
  }

  @Override
  public void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) {
    long t = start();
    d.batBlockGrad(w, m, dBlocks, outF, inF, r);
    stop("batBlockGrad", t);
  }

  @Override
  public void addBias(Buf y, Buf bias, int rows, int cols) {
    long t = start();
    d.addBias(y, bias, rows, cols);
    stop("addBias", t);
  }

  @Override
  public double sumOfSquares(Buf x) {
    long t = start();
    double s = d.sumOfSquares(x);
    stop("sumOfSquares", t);
    return s;
  }

  @Override
  public void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd, float bias1,
      float sqrtBias2, float gradScale) {
    long t = start();
    d.adamw(p, g, m, v, lr, beta1, beta2, eps, wd, bias1, sqrtBias2, gradScale);
    stop("adamw", t);
  }

  @Override
  public void sgd(Buf p, Buf g, float lr, float wd, float gradScale) {
    long t = start();
    d.sgd(p, g, lr, wd, gradScale);
    stop("sgd", t);
  }

  @Override
  public long lossChunkElements() {
    return d.lossChunkElements();
  }

  @Override
  public void randomNormal(Buf out, float std, long seed) {
    long t = start();
    d.randomNormal(out, std, seed);
    stop("randomNormal", t);
  }

  @Override
  public void close() {
    d.close();
  }
}
