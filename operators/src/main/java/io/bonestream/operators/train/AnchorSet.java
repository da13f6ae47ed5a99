package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.backend.BackendFactory;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.JsonlDataset;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.train.Trainer;
import java.util.ArrayList;
import java.util.List;

/**
 * A profile's anchor set, tokenized: the general records every adapter of a base model is scored
 * on (the anchor guard, docs/continual.md), and the base model's own loss on them. Made once per
 * profile and training subtask; scoring is a forward pass over the set, in a fixed order, so a
 * restored job scores exactly as one that never stopped.
 */
final class AnchorSet {
  private final ContinualPolicy.Anchor policy;
  private final List<Example> examples;
  private final long tokens;
  private final double baseLoss;

  private AnchorSet(ContinualPolicy.Anchor policy, List<Example> examples, long tokens, double baseLoss) {
    this.policy = policy;
    this.examples = examples;
    this.tokens = tokens;
    this.baseLoss = baseLoss;
  }

  /**
   * Tokenizes the policy's records (each cut at {@code maxSeqLen} tokens, as the job cuts its
   * records; the first ones up to the policy's token budget, 0: all) and scores the base model on
   * them with a new adapter of {@code profile}, which starts as the identity.
   */
  static AnchorSet of(ContinualPolicy.Anchor policy, AdapterProfile profile, SharedModels.Loaded shared,
      BackendFactory backend, int maxSeqLen) {
    ExampleEncoder encoder = new ExampleEncoder(shared.tokenizer(), maxSeqLen, shared.model().config().vocabSize());
    List<Example> examples = new ArrayList<>();
    long tokens = 0;
    for (Example e : JsonlDataset.read(policy.lines(), "anchor set " + policy.source(), new RecordParser(encoder))) {
      if (policy.maxTokens() > 0 && tokens + e.inputIds().length > policy.maxTokens()) {
        break; // the budget bounds the cost of every scoring
      }
      examples.add(e);
      tokens += e.inputIds().length;
    }
    if (examples.isEmpty()) {
      throw new BonestreamException("anchor set " + policy.source() + ": no record fits max-tokens "
          + policy.maxTokens());
    }
    double base;
    try (Trainer fresh = Trainer.create(shared.model(), profile.adapter(), profile.train(), backend)) {
      base = fresh.evaluate(examples);
    }
    return new AnchorSet(policy, List.copyOf(examples), tokens, base);
  }

  /** The adapter's mean loss over the anchor set; a non-finite loss reads as infinitely bad. */
  double score(Trainer trainer) {
    double loss = trainer.evaluate(examples);
    return Double.isFinite(loss) ? loss : Double.POSITIVE_INFINITY;
  }

  double baseLoss() {
    return baseLoss;
  }

  int size() {
    return examples.size();
  }

  long tokens() {
    return tokens;
  }

  ContinualPolicy.Anchor policy() {
    return policy;
  }

  /**
   * Whether a due snapshot is scored: the first one always; then once {@code every-versions} due
   * snapshots and (with {@code every-tokens} above 0) that many trained tokens have come since the
   * last scoring.
   *
   * @param due the 0-based number of this due snapshot
   * @param tokens the tokens the adapter trained on so far
   */
  static boolean scores(ContinualPolicy.Anchor policy, AdapterProgress p, long due, long tokens) {
    if (!policy.enabled()) {
      return false;
    }
    if (p.anchorScoredAtDue < 0) {
      return true;
    }
    return due - p.anchorScoredAtDue >= policy.everyVersions()
        && (policy.everyTokens() == 0 || tokens - p.anchorScoredAtTokens >= policy.everyTokens());
  }
}
