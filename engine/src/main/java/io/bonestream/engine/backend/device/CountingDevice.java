package io.bonestream.engine.backend.device;

import io.bonestream.engine.device.Buf;
import io.bonestream.engine.device.DType;
import io.bonestream.engine.device.Device;

/**
 * A device that only counts: its buffers have sizes but no memory and its operations do nothing.
 * Running the real code of a training step on it gives the bytes that step allocates on a real
 * device, for any model shape, in a moment ({@link MemoryPlan}).
 */
final class CountingDevice implements Device {
  private final long lossChunkElements;
  private final boolean sideStream;
  private long allocated;
  private long peak;
  private long nextAddress = 1L << 20;

  /**
   * Counts as a device that materialises {@code lossChunkElements} logits at once and has a side
   * stream or not (both change what a step allocates: see {@link Device}).
   */
  CountingDevice(long lossChunkElements, boolean sideStream) {
    this.lossChunkElements = lossChunkElements;
    this.sideStream = sideStream;
  }

  @Override
  public boolean hasSideStream() {
    return sideStream;
  }

  @Override
  public String describe() {
    return "counting device";
  }

  @Override
  public Buf alloc(DType type, long size) {
    long bytes = size * type.bytes();
    Buf b = Buf.ofAddress(nextAddress, type, size);
    nextAddress += bytes + 256;
    allocated += bytes;
    peak = Math.max(peak, allocated);
    return b;
  }

  @Override
  public void free(Buf buf) {
    allocated -= buf.size() * buf.type().bytes();
  }

  @Override
  public long allocatedBytes() {
    return allocated;
  }

  @Override
  public long peakAllocatedBytes() {
    return peak;
  }

  @Override
  public void resetPeak() {
    peak = allocated;
  }

  @Override
  public long lossChunkElements() {
    return lossChunkElements;
  }

  @Override
  public void upload(float[] src, Buf dst) { }

  @Override
  public void upload(int[] src, Buf dst) { }

  @Override
  public float[] download(Buf src) {
    return new float[(int) Math.min(src.size(), 1 << 20)];
  }

  @Override
  public void copy(Buf src, Buf dst) { }

  @Override
  public void zero(Buf buf) { }

  @Override
  public void synchronize() { }

  @Override
  public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda, Buf b, int ldb,
      float beta, Buf c, int ldc) { }

  @Override
  public void gemmBatched(boolean transA, boolean transB, int m, int n, int k, float alpha, Buf a, int lda,
      long strideA, Buf b, int ldb, long strideB, float beta, Buf c, int ldc, long strideC, int batch) { }

  @Override
  public void embed(Buf ids, Buf table, Buf out, int rows, int dim) { }

  @Override
  public void rmsnormForward(Buf x, Buf w, float eps, Buf out, Buf invRms, int rows, int dim) { }

  @Override
  public void rmsnormBackward(Buf x, Buf w, Buf invRms, Buf dy, Buf dyTile, int r, Buf dx, Buf dxAct, int rows,
      int dim, boolean accumulate) { }

  @Override
  public void toHeads(Buf in, Buf inTile, int r, Buf cos, Buf sin, Buf out, int batch, int seq, int heads,
      int headDim, boolean rotate) { }

  @Override
  public void fromHeads(Buf in, Buf cos, Buf sin, Buf out, int batch, int seq, int heads, int headDim,
      boolean unrotate) { }

  @Override
  public void attentionForward(Buf q, Buf k, Buf v, Buf out, Buf lse, int batch, int kvHeads, int group, int seq,
      int headDim, float scale) { }

  @Override
  public void attentionBackward(Buf q, Buf k, Buf v, Buf out, Buf dOut, Buf lse, Buf dq, Buf dk, Buf dv, int batch,
      int kvHeads, int group, int seq, int headDim, float scale) { }

  @Override
  public void swiglu(Buf gate, Buf up, Buf out, long n) { }

  @Override
  public void swigluBackward(Buf gate, Buf up, Buf dOut, Buf dOutTile, int r, Buf dGate, Buf dUp, Buf out,
      int rows, int cols) { }

  @Override
  public void crossEntropy(Buf logits, Buf targets, Buf weights, float gradScale, Buf rowLoss, Buf dLogits,
      int rows, int vocab) { }

  @Override
  public void batMerge(Buf w, Buf blocks, Buf blocksAct, Buf out, int outF, int inF, int r) { }

  @Override
  public void batBlockGrad(Buf w, Buf m, Buf dBlocks, int outF, int inF, int r) { }

  @Override
  public void addBias(Buf y, Buf bias, int rows, int cols) { }

  @Override
  public double sumOfSquares(Buf x) {
    return 0;
  }

  @Override
  public void adamw(Buf p, Buf g, Buf m, Buf v, float lr, float beta1, float beta2, float eps, float wd,
      float bias1, float sqrtBias2, float gradScale) { }

  @Override
  public void sgd(Buf p, Buf g, float lr, float wd, float gradScale) { }

  @Override
  public void randomNormal(Buf out, float std, long seed) { }

  @Override
  public void close() { }
}
