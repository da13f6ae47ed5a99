package io.bonestream.engine.model;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.model.Projection;
import io.bonestream.engine.util.Workspaces;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A LLaMA decoder over a frozen {@link BaseModel}, optionally with adapters: the forward pass for
 * training, evaluation and decoding, and the backward pass into the adapters.
 *
 * <p>Shapes: B batch, T positions, N = B·T rows, D hidden, F intermediate, V vocabulary. Hidden
 * states are (N, D) row-major. Only the adapters are trained, so the backward pass computes input
 * gradients through the frozen layers and never a base-weight gradient.
 *
 * <p>Not thread-safe: adapters keep the activations of the pass in flight.
 */
public final class Transformer {
  private final BaseModel base;
  private final @Nullable ProjectionOverrides adapters;
  private final ModelConfig c;
  private final Rope rope;

  /** {@code adapters}: what replaces projections (an {@code AdapterSet}), or null for the base model alone. */
  public Transformer(BaseModel base, @Nullable ProjectionOverrides adapters) {
    this.base = base;
    this.adapters = adapters;
    this.c = base.config();
    this.rope = new Rope(c);
  }

  public BaseModel base() {
    return base;
  }

  /** Activations of one layer kept for the backward pass. */
  private record LayerTape(INDArray x, INDArray invRms1, Attention.Saved attention, INDArray xMid,
      INDArray invRms2, INDArray gate, INDArray up) {}

  /** Activations of the whole pass. */
  private record Tape(List<LayerTape> layers, INDArray xFinal, INDArray invRmsFinal, INDArray normed) {}

  // ---------------------------------------------------------------- training and evaluation

  /**
   * Forward and backward over one micro-batch: adds dLoss/dθ to the adapters' gradients, where
   * loss = (weighted sum of the batch's token losses) / {@code lossDenominator}. Returns the sum.
   */
  public LossSum forwardBackward(TokenBatch batch, double lossDenominator) {
    if (adapters == null) {
      throw new IllegalStateException("no adapters to train");
    }
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.PASS)) {
      Tape tape = forward(batch, true);
      INDArray logits = logits(tape.normed());
      CrossEntropy.Output loss = CrossEntropy.forwardBackward(logits, batch.targets(), batch.weights(),
          lossDenominator);
      backward(tape, loss.gradLogits());
      return new LossSum(loss.lossSum(), loss.targetCount(), loss.targetWeight());
    }
  }

  /** Loss sum and target count of a batch, no gradients. */
  public LossSum loss(TokenBatch batch) {
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.PASS)) {
      CrossEntropy.Output out = CrossEntropy.forward(logits(forward(batch, false).normed()),
          batch.targets(), batch.weights());
      return new LossSum(out.lossSum(), out.targetCount(), out.targetWeight());
    }
  }

  /** Logits of every position, (B·T, V). */
  public INDArray logits(TokenBatch batch) {
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.PASS)) {
      return logits(forward(batch, false).normed()).detach();
    }
  }

  private INDArray logits(INDArray normed) {
    INDArray out = Nd4j.createUninitialized(normed.dataType(), normed.size(0), c.vocabSize());
    Nd4j.gemm(normed, base.lmHead(), out, false, true, 1.0, 0.0); // (N, D)·(V, D)ᵀ
    return out;
  }

  private Tape forward(TokenBatch batch, boolean keep) {
    checkLength(batch.seq());
    List<LayerTape> layers = keep ? new ArrayList<>() : null;
    INDArray x = Nd4j.pullRows(base.embedTokens(), 1, batch.ids()); // (N, D)
    Rope.Tables tables = rope.tables(0, batch.seq(), base.dataType());
    for (int l = 0; l < c.numLayers(); l++) {
      x = layer(l, x, batch.batch(), batch.seq(), tables, null, 0, layers);
    }
    RmsNorm.Output fin = RmsNorm.forward(x, base.finalNorm(), c.rmsNormEps());
    return new Tape(layers, x, fin.invRms(), fin.y());
  }

  /** One decoder layer: x (N, D) → x (N, D). Appends its activations to {@code tape} if given. */
  private INDArray layer(int l, INDArray x, int batch, int seq, Rope.Tables tables,
      KvCache.@Nullable Layer cache, int start, @Nullable List<LayerTape> tape) {
    BaseModel.Layer w = base.layer(l);
    // attention block: x + o_proj(attention(rope(q), rope(k), v)) on RMSNorm(x)
    RmsNorm.Output n1 = RmsNorm.forward(x, w.inputNorm(), c.rmsNormEps());
    INDArray q = project(l, Projection.Q_PROJ, n1.y()); // (N, H·hd)
    INDArray k = project(l, Projection.K_PROJ, n1.y()); // (N, Hkv·hd)
    INDArray v = project(l, Projection.V_PROJ, n1.y()); // (N, Hkv·hd)
    Attention.Output att = Attention.forward(q, k, v, batch, seq, c, tables, cache, start);
    INDArray xMid = project(l, Projection.O_PROJ, att.out()).addi(x); // (N, D)
    // MLP block: x + down_proj(silu(gate_proj(h)) · up_proj(h)) on h = RMSNorm(x)
    RmsNorm.Output n2 = RmsNorm.forward(xMid, w.postAttentionNorm(), c.rmsNormEps());
    INDArray gate = project(l, Projection.GATE_PROJ, n2.y()); // (N, F)
    INDArray up = project(l, Projection.UP_PROJ, n2.y()); // (N, F)
    INDArray out = project(l, Projection.DOWN_PROJ, SwiGlu.forward(gate, up)).addi(xMid);
    if (tape != null) {
      tape.add(new LayerTape(x, n1.invRms(), att.saved(), xMid, n2.invRms(), gate, up));
    }
    return out;
  }

  private void backward(Tape tape, INDArray gradLogits) {
    INDArray dNormed = Nd4j.createUninitialized(gradLogits.dataType(), gradLogits.size(0), c.hiddenSize());
    Nd4j.gemm(gradLogits, base.lmHead(), dNormed, false, false, 1.0, 0.0); // (N, V)·(V, D)
    INDArray dx = RmsNorm.backward(tape.xFinal(), base.finalNorm(), tape.invRmsFinal(), dNormed);
    for (int l = c.numLayers() - 1; l >= 0; l--) {
      LayerTape t = tape.layers().get(l);
      BaseModel.Layer w = base.layer(l);
      // MLP block
      INDArray dAct = projectBackward(l, Projection.DOWN_PROJ, dx);
      SwiGlu.Grads dg = SwiGlu.backward(t.gate(), t.up(), dAct);
      INDArray dh2 = projectBackward(l, Projection.GATE_PROJ, dg.dg())
          .addi(projectBackward(l, Projection.UP_PROJ, dg.du()));
      dx.addi(RmsNorm.backward(t.xMid(), w.postAttentionNorm(), t.invRms2(), dh2));
      // attention block
      INDArray dAttn = projectBackward(l, Projection.O_PROJ, dx);
      Attention.Grads da = Attention.backward(t.attention(), dAttn, c);
      INDArray dh1 = projectBackward(l, Projection.Q_PROJ, da.dq())
          .addi(projectBackward(l, Projection.K_PROJ, da.dk()))
          .addi(projectBackward(l, Projection.V_PROJ, da.dv()));
      dx.addi(RmsNorm.backward(t.x(), w.inputNorm(), t.invRms1(), dh1));
    }
  }

  private INDArray project(int l, Projection p, INDArray x) {
    LinearOverride a = adapters == null ? null : adapters.adapter(l, p);
    return a != null ? a.forward(x) : base.layer(l).projection(p).forward(x);
  }

  private INDArray projectBackward(int l, Projection p, INDArray gradOut) {
    LinearOverride a = adapters == null ? null : adapters.adapter(l, p);
    return a != null ? a.backward(gradOut) : base.layer(l).projection(p).backward(gradOut);
  }

  // ---------------------------------------------------------------- decoding

  /** A cache able to hold {@code capacity} positions. */
  public KvCache newCache(int capacity) {
    checkLength(capacity);
    return new KvCache(c, capacity, base.dataType());
  }

  /**
   * Feeds {@code tokens} at the cache's current end and returns the logits (V) of the last one.
   */
  public INDArray decode(int[] tokens, KvCache cache) {
    int start = cache.length();
    if (start + tokens.length > cache.capacity()) {
      throw new BonestreamException("sequence of " + (start + tokens.length)
          + " tokens exceeds the cache capacity " + cache.capacity());
    }
    try (MemoryWorkspace ws = Workspaces.open(Workspaces.PASS)) {
      INDArray x = Nd4j.pullRows(base.embedTokens(), 1, tokens);
      Rope.Tables tables = rope.tables(start, tokens.length, base.dataType());
      for (int l = 0; l < c.numLayers(); l++) {
        x = layer(l, x, 1, tokens.length, tables, cache.layer(l), start, null);
      }
      cache.advance(tokens.length);
      INDArray last = x.getRow(tokens.length - 1, true); // (1, D)
      INDArray normed = RmsNorm.forward(last, base.finalNorm(), c.rmsNormEps()).y();
      return logits(normed).getRow(0).detach();
    }
  }

  private void checkLength(int length) {
    if (length > c.maxPositionEmbeddings()) {
      throw new BonestreamException("sequence of " + length + " tokens exceeds the model's "
          + "max_position_embeddings " + c.maxPositionEmbeddings());
    }
    if (c.slidingWindow() > 0 && length > c.slidingWindow()) {
      throw new BonestreamException("sequence of " + length + " tokens exceeds the model's "
          + "sliding_window " + c.slidingWindow() + " (sliding-window attention is not implemented)");
    }
  }
}
