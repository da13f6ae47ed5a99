package io.bonestream.engine.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Rng;
import io.bonestream.engine.adapters.Adapter;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.adapters.ParameterStore;
import io.bonestream.engine.adapters.bat.BatAdapter;
import io.bonestream.engine.adapters.bone.BoneAdapter;
import io.bonestream.engine.adapters.lora.LoraAdapter;
import io.bonestream.engine.adapters.mini.MiniAdapter;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Finite-difference checks, in float64, of every hand-written backward pass: each analytic
 * gradient is compared with (L(θ + h) − L(θ − h)) / 2h at sampled entries.
 */
class GradientCheckTest {
  private static final DataType F64 = DataType.DOUBLE;
  private static final double H = 1e-6;
  private static final double TOLERANCE = 1e-6;

  /** Compares {@code analytic} with central differences of {@code loss} in {@code param}. */
  private static void check(String what, INDArray param, INDArray analytic, Supplier<Double> loss) {
    INDArray flat = param.reshape(param.length()); // a view: writes reach param
    INDArray grad = analytic.dup('c').reshape(analytic.length());
    Rng rng = new Rng(what.hashCode());
    int samples = (int) Math.min(param.length(), 40);
    double worst = 0;
    for (int s = 0; s < samples; s++) {
      long i = param.length() <= 40 ? s : rng.nextInt((int) param.length());
      double orig = flat.getDouble(i);
      flat.putScalar(i, orig + H);
      double up = loss.get();
      flat.putScalar(i, orig - H);
      double down = loss.get();
      flat.putScalar(i, orig);
      double numeric = (up - down) / (2 * H);
      double a = grad.getDouble(i);
      double err = Math.abs(a - numeric) / Math.max(1e-3, Math.abs(a) + Math.abs(numeric));
      worst = Math.max(worst, err);
    }
    assertTrue(worst < TOLERANCE, what + ": worst relative error " + worst);
    assertTrue(analytic.norm2Number().doubleValue() > 0, what + ": gradient is zero, test is void");
  }

  private static INDArray rand(long... shape) {
    return Nd4j.randn(F64, shape);
  }

  private static double dot(INDArray a, INDArray b) {
    return a.mul(b).sumNumber().doubleValue();
  }

  @Test
  void rmsNorm() {
    Nd4j.getRandom().setSeed(1);
    INDArray x = rand(5, 8);
    INDArray w = rand(8);
    INDArray r = rand(5, 8);
    RmsNorm.Output out = RmsNorm.forward(x, w, 1e-5);
    INDArray dx = RmsNorm.backward(x, w, out.invRms(), r);
    check("rmsnorm dx", x, dx, () -> dot(RmsNorm.forward(x, w, 1e-5).y(), r));
  }

  @Test
  void rope() {
    Nd4j.getRandom().setSeed(2);
    ModelConfig c = RandomModels.tinyConfig("llama", 1);
    Rope.Tables tables = new Rope(c).tables(3, 5, F64); // positions 3..7
    INDArray x = rand(2, 5, 4, c.headDim());
    INDArray r = rand(2, 5, 4, c.headDim());
    INDArray dx = Rope.backward(r, tables);
    check("rope dx", x, dx, () -> dot(Rope.apply(x, tables), r));
  }

  @Test
  void attentionWithGroupedQueries() {
    Nd4j.getRandom().setSeed(3);
    ModelConfig c = RandomModels.tinyConfig("llama", 1); // 4 query heads on 2 key/value heads
    int b = 2;
    int t = 5;
    Rope.Tables tables = new Rope(c).tables(0, t, F64);
    INDArray q = rand(b * t, c.numHeads() * c.headDim());
    INDArray k = rand(b * t, c.numKvHeads() * c.headDim());
    INDArray v = rand(b * t, c.numKvHeads() * c.headDim());
    INDArray r = rand(b * t, c.numHeads() * c.headDim());
    Supplier<Double> loss = () -> dot(Attention.forward(q, k, v, b, t, c, tables, null, 0).out(), r);
    Attention.Output out = Attention.forward(q, k, v, b, t, c, tables, null, 0);
    Attention.Grads g = Attention.backward(out.saved(), r, c);
    check("attention dq", q, g.dq(), loss);
    check("attention dk", k, g.dk(), loss);
    check("attention dv", v, g.dv(), loss);
  }

  @Test
  void swiGlu() {
    Nd4j.getRandom().setSeed(4);
    INDArray g = rand(6, 7);
    INDArray u = rand(6, 7);
    INDArray r = rand(6, 7);
    SwiGlu.Grads grads = SwiGlu.backward(g, u, r);
    check("swiglu dg", g, grads.dg(), () -> dot(SwiGlu.forward(g, u), r));
    check("swiglu du", u, grads.du(), () -> dot(SwiGlu.forward(g, u), r));
  }

  @Test
  void crossEntropyWithIgnoredRowsAndWeights() {
    Nd4j.getRandom().setSeed(5);
    INDArray logits = rand(6, 11).muli(3);
    int[] targets = {3, -1, 0, 10, -1, 7};
    float[] weights = {1f, 0f, 0.5f, 2f, 0f, 1f};
    double denom = 4.5;
    INDArray grad = CrossEntropy.forwardBackward(logits, targets, weights, denom).gradLogits();
    check("cross-entropy dlogits", logits, grad,
        () -> CrossEntropy.forward(logits, targets, weights).lossSum() / denom);
    // ignored rows get no gradient at all
    assertTrue(grad.getRow(1).norm2Number().doubleValue() == 0);
    assertTrue(grad.getRow(4).norm2Number().doubleValue() == 0);
  }

  /** Checks an adapter's parameter and input gradients through L = Σ forward(x) ⊙ R. */
  private static void checkAdapter(String what, Adapter a, long n) {
    for (INDArray p : a.parameters()) {
      p.assign(rand(p.shape()).muli(0.5)); // away from zero: a general point
    }
    INDArray x = rand(n, a.base().inFeatures());
    INDArray r = rand(n, a.base().outFeatures());
    a.zeroGradients();
    a.forward(x);
    INDArray dx = a.backward(r);
    Supplier<Double> loss = () -> dot(a.forward(x), r);
    List<INDArray> params = a.parameters();
    for (int i = 0; i < params.size(); i++) {
      check(what + " d" + a.namedParameters().keySet().toArray()[i], params.get(i), a.gradients().get(i), loss);
    }
    check(what + " dx", x, dx, loss);
  }

  private static ParameterStore store(long size) {
    return new ParameterStore(F64, size);
  }

  private static Linear linear(long out, long in) {
    return new Linear(rand(out, in), rand(out));
  }

  @Test
  void boneWithRemainderColumns() {
    Nd4j.getRandom().setSeed(6);
    checkAdapter("bone I%r!=0", new BoneAdapter(linear(6, 10), 4, store(24)), 5); // I = 10, r = 4: remainder 2
    checkAdapter("bone I%r==0", new BoneAdapter(linear(6, 12), 4, store(24)), 5);
  }

  @Test
  void miniWithRemainderColumns() {
    Nd4j.getRandom().setSeed(9);
    // O = 8, mini_r = 2 (B_mini repeated 4 times), I = 10, r = 4: remainder 2
    checkAdapter("mini", new MiniAdapter(linear(8, 10), 4, 2, store(8)), 5);
  }

  @Test
  void bat() {
    Nd4j.getRandom().setSeed(7);
    checkAdapter("bat", new BatAdapter(linear(12, 8), 4, "test", store(48)), 5); // P = 3, Q = 2
  }

  @Test
  void lora() {
    Nd4j.getRandom().setSeed(8);
    checkAdapter("lora", new LoraAdapter(linear(6, 10), 3, 6.0, new Rng(1), store(48)), 5);
  }

  /** The whole model: every adapter kind, GQA, RoPE, biases, padding, ignored labels. */
  @Test
  void wholeModelAdapterGradients() {
    for (AdapterMethod m : AdapterMethod.values()) {
      ModelConfig c = RandomModels.tinyConfig("qwen2", 2);
      BaseModel base = RandomModels.model(c, F64, true, 9);
      AdapterSet adapters = AdapterSet.create(base, AdapterConfig.builder().method(m).r(4).build(), new Rng(3));
      Nd4j.getRandom().setSeed(10);
      for (INDArray p : adapters.parameters()) {
        p.assign(rand(p.shape()).muli(0.2));
      }
      Transformer t = new Transformer(base, adapters);
      TokenBatch batch = TokenBatch.of(
          List.of(new int[] {1, 5, 9, 3, 7, 2}, new int[] {1, 4, 4, 8}),
          List.of(new int[] {-100, -100, 9, 3, 7, 2}, new int[] {-100, -100, -100, 8}));
      adapters.zeroGradients();
      t.forwardBackward(batch, batch.targetCount());
      Supplier<Double> loss = () -> t.loss(batch).sum() / batch.targetCount();
      List<INDArray> params = adapters.parameters();
      List<INDArray> grads = adapters.gradients();
      // first layer's q_proj and last layer's down_proj adapters: the whole depth is crossed
      int perAdapter = m == AdapterMethod.LORA ? 2 : 1;
      check(m + " model, layer 0 q_proj", params.get(0), grads.get(0), loss);
      int last = params.size() - perAdapter;
      check(m + " model, last down_proj", params.get(last), grads.get(last), loss);
    }
  }
}
