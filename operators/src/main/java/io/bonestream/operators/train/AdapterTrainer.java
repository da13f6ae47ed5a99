package io.bonestream.operators.train;

import io.bonestream.core.peft.PeftExport;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.backend.BackendSpec;
import io.bonestream.engine.backend.Backends;
import io.bonestream.engine.backend.SharedBackend;
import io.bonestream.engine.backend.StepResult;
import io.bonestream.engine.backend.TrainingState;
import io.bonestream.engine.backend.TrainingStateCodec;
import io.bonestream.engine.backend.device.DeviceTrainer;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.engine.train.Trainer;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.EveryAdapter;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.decode.DeadLetterReason;
import io.bonestream.operators.decode.DecodeInstructions;
import io.bonestream.operators.publish.BlobStore;
import io.bonestream.operators.publish.PublishedSnapshots;
import io.bonestream.operators.publish.ReadBackCheck;
import io.bonestream.operators.publish.SigningKeySource;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.GatedSnapshot;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.ManifestSignatures;
import io.bonestream.schemas.SigningKeys;
import io.bonestream.schemas.TrainingStats;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.TaskInfo;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training operator, keyed by adapter id. Per adapter it keeps in Flink state the engine's
 * training state (adapter tensors, optimizer moments, step, RNG: {@link TrainingStateCodec}), the
 * buffered not-yet-trained examples, and the {@link AdapterProgress} (version, loss statistics,
 * pending lineage). Buffered examples become one optimizer step by the {@link BatchPolicy}; every
 * so many steps ({@link SnapshotPolicy}) it emits an {@link AdapterSnapshot} manifest (encoded,
 * keyed by adapter id) with the
 * adapter inline or, when large, as a claim check on a blob written first.
 *
 * <p>The frozen base model is shared per JVM ({@link SharedModels}). Live trainers are cached per
 * adapter (least recently used first out). A step does not copy the training state: it is written
 * into keyed state when a checkpoint or savepoint is taken ({@link AdapterTrainerOperator}), so a
 * checkpoint holds the very bytes that writing it after every step would; a trainer evicted with
 * unsaved steps writes its state under its own key as it goes (the state backend holds it, not the
 * heap).
 *
 * <p>Versions never go backwards: on start the operator reads which versions the adapters topic
 * already holds ({@link PublishedSnapshots}; {@link NeverBackwards} decides). An adapter without state whose versions were
 * published (its checkpoint was lost or deleted, or the job started {@code --fresh}) continues from
 * its newest published snapshot with a fresh optimizer; an adapter whose restored state is older
 * than what was published (an old savepoint) numbers its next version after the newest published
 * one. Either way the next manifest says so in {@code resumed_from}. Blob folders above an adapter's
 * version (written for transactions that never committed) are removed then too.
 *
 * <p>The continual-learning guards of the adapter's profile ({@link ContinualPolicy},
 * docs/continual.md): replays from its {@link ReplayReservoir} (keyed state {@code replay}) mixed
 * into each step, the {@link DriftDetector} on each batch's loss before its step, the
 * {@link AnchorSet} scored at due snapshots for the {@link EvalGate}, and erasure requests (keyed
 * state {@code version-state} holds the last version's training state where erasures may retrain).
 */
public final class AdapterTrainer extends KeyedProcessFunction<String, TrainingItem, EncodedRecord> {
  private static final Logger LOG = LoggerFactory.getLogger(AdapterTrainer.class);
  /** Operator uid in the job graph: checkpoints and savepoints find the state under it. */
  public static final String UID = "trainer";
  /** Snapshots the eval gate held back ({@link GatedSnapshot}), for the gated topic. */
  public static final OutputTag<EncodedRecord> GATED =
      new OutputTag<>("gated-snapshots", TypeInformation.of(EncodedRecord.class));

  /** The engine's training state ({@link TrainingStateCodec}) per adapter. */
  public static ValueStateDescriptor<byte[]> trainingStateDescriptor() {
    return new ValueStateDescriptor<>("training-state", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  /** The adapter's {@link AdapterProgress} (version, statistics, buffer and lineage bookkeeping). */
  public static ValueStateDescriptor<byte[]> progressDescriptor() {
    return new ValueStateDescriptor<>("progress", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  /** The adapter's {@link ReplayReservoir}, when its profile replays. */
  public static ValueStateDescriptor<byte[]> replayDescriptor() {
    return new ValueStateDescriptor<>("replay", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  /** The training state at the adapter's last version, when its profile retrains on erasure. */
  public static ValueStateDescriptor<byte[]> versionStateDescriptor() {
    return new ValueStateDescriptor<>("version-state", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  /** The ids trained on since the adapter's last version ({@link TrainedSinceVersion}), when it retrains on erasure. */
  public static ValueStateDescriptor<byte[]> trainedSinceVersionDescriptor() {
    return new ValueStateDescriptor<>("trained-since-version", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  /**
   * The most erasure requests an adapter holds applied and not yet listed by a version; past it, its
   * requests are dead letters ({@code OVER_ERASURE_LIMIT}).
   */
  public static final int MAX_PENDING_ERASURES = PendingErasures.MAX_PENDING;

  /** The erasure requests applied and not yet listed by a version ({@link PendingErasures}), in order. */
  public static ListStateDescriptor<byte[]> pendingErasuresDescriptor() {
    return new ListStateDescriptor<>("pending-erasures", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
  }

  private final String modelDir;
  private final AdapterProfiles profiles;
  private final BatchPolicy batchPolicy;
  private final SnapshotPolicy snapshotPolicy;
  private final int maxCachedAdapters;
  private final @Nullable PublishedSnapshots published;
  private final BackendSpec backend;

  private transient SharedModels.Loaded shared;
  private final @Nullable SigningKeySource signing;
  private final List<String> trustedPublicKeys;
  private final Quotas quotas;
  /** The job's sequence limit for records: the anchor set is tokenized with it too; 0: the profile's. */
  private int recordsMaxSeqLen;
  private transient ShareWindow shares;

  private transient SharedBackend device;
  private transient SigningKeys.@Nullable Signer signer;
  private transient Map<String, PublishedSnapshots.Ref> publishedIndex;
  private transient Set<String> reconciled;
  private transient ValueState<byte[]> trainingState;
  private transient ValueState<byte[]> progressState;
  private transient ValueState<byte[]> replayState;
  private transient ValueState<byte[]> versionState;
  private transient ValueState<byte[]> trainedSinceVersion;
  private transient ListState<byte[]> pendingErasures;
  private transient MapState<Long, Long> signedRequests;
  /** Each profile's anchor set, tokenized and scored on the base model once per subtask. */
  private transient Map<ContinualPolicy.Anchor, AnchorSet> anchorSets;
  private transient ListState<TrainingItem> buffer;
  /** The adapter's held-out records ({@link EvalPolicy}): never trained on. */
  private transient ListState<TrainingItem> evalSet;
  private transient Map<String, Trainer> trainers;
  /** Adapters whose live trainer has steps its keyed training state does not have yet. */
  private transient Set<String> unsaved;
  /** The operator's keys (set by {@link AdapterTrainerOperator}). */
  interface Keys {
    /** Runs an action with another adapter's key current. */
    void underKey(String key, StateAction action) throws Exception;

    /** The adapters with state in key group {@code group} of this subtask, sorted. */
    List<String> inKeyGroup(int group) throws Exception;
  }

  interface StateAction {
    void run() throws Exception;
  }

  private transient Keys keys;
  private transient Map<String, AdapterMetrics> metrics;
  private transient Map<ReadBackCheck.Refusal, Counter> refusedManifests;

  /**
   * @param published the adapters topic, read on start so that versions never go backwards; null
   *     turns that off (only for tests that show what it prevents)
   * @param backend where the steps run (the base model goes to a GPU once per TaskManager)
   * @param signing the key every manifest is signed with, or null for unsigned manifests
   * @param trustedPublicKeys besides the signing key's own, the public keys (PEM) whose manifests
   *     read back are trusted (a previous signing key, after a rotation)
   * @param quotas one adapter's share of this subtask (the job-wide adapter cap is {@link AdapterAdmission}'s)
   */
  public AdapterTrainer(String modelDir, AdapterProfiles profiles, BatchPolicy batchPolicy,
      SnapshotPolicy snapshotPolicy, int maxCachedAdapters, @Nullable PublishedSnapshots published,
      BackendSpec backend, @Nullable SigningKeySource signing, List<String> trustedPublicKeys, Quotas quotas) {
    this.modelDir = modelDir;
    this.profiles = profiles;
    this.batchPolicy = batchPolicy;
    this.snapshotPolicy = snapshotPolicy;
    this.maxCachedAdapters = maxCachedAdapters;
    this.published = published;
    this.backend = backend;
    this.signing = signing;
    this.trustedPublicKeys = List.copyOf(trustedPublicKeys);
    this.quotas = quotas;
  }

  /**
   * The sequence limit the job tokenizes records with; anchor sets are tokenized with it too, so an
   * adapter is scored on what it could have been trained on (without it: the profile's limit).
   */
  public AdapterTrainer recordsMaxSeqLen(int maxSeqLen) {
    this.recordsMaxSeqLen = maxSeqLen;
    return this;
  }

  @Override
  public void open(OpenContext context) {
    signer = signing == null ? null : signing.load();
    shares = new ShareWindow(quotas.shareWindowTokens());
    shared = SharedModels.acquire(modelPath());
    device = Backends.acquire(backend, shared.model());
    getRuntimeContext().getMetricGroup().gauge("gpu_memory_bytes",
        (org.apache.flink.metrics.Gauge<Long>) () -> device == null ? 0L : device.deviceBytes());
    trainingState = getRuntimeContext().getState(trainingStateDescriptor());
    progressState = getRuntimeContext().getState(progressDescriptor());
    replayState = getRuntimeContext().getState(replayDescriptor());
    versionState = getRuntimeContext().getState(versionStateDescriptor());
    trainedSinceVersion = getRuntimeContext().getState(trainedSinceVersionDescriptor());
    pendingErasures = getRuntimeContext().getListState(pendingErasuresDescriptor());
    signedRequests = getRuntimeContext().getMapState(SignedRequestsSeen.descriptor());
    anchorSets = new java.util.IdentityHashMap<>();
    buffer = getRuntimeContext().getListState(new ListStateDescriptor<>("buffer",
        TypeInformation.of(TrainingItem.class)));
    evalSet = getRuntimeContext().getListState(new ListStateDescriptor<>("eval-set",
        TypeInformation.of(TrainingItem.class)));
    trainers = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Trainer> eldest) {
        boolean evict = size() > maxCachedAdapters;
        if (evict) {
          String id = eldest.getKey();
          if (unsaved.remove(id)) {
            byte[] state = eldest.getValue().encodedState();
            try {
              keys.underKey(id, () -> {
                trainingState.update(state);
                metrics(id).stateBytes = state.length;
              });
            } catch (Exception e) {
              throw new IllegalStateException("cannot write the training state of evicted adapter " + id, e);
            }
          }
          eldest.getValue().close(); // frees its device memory
        }
        return evict;
      }
    };
    unsaved = new HashSet<>();
    if (keys == null) {
      throw new IllegalStateException("AdapterTrainer runs inside AdapterTrainerOperator");
    }
    metrics = new HashMap<>();
    refusedManifests = new java.util.EnumMap<>(ReadBackCheck.Refusal.class);
    for (ReadBackCheck.Refusal r : ReadBackCheck.Refusal.values()) { // exported from the start: a rate over 0 is 0
      refusedManifests.put(r, getRuntimeContext().getMetricGroup().addGroup("reason", r.name()).counter("refused_manifests"));
    }
    reconciled = new HashSet<>();
    TaskInfo task = getRuntimeContext().getTaskInfo();
    int maxParallelism = task.getMaxNumberOfParallelSubtasks();
    int parallelism = task.getNumberOfParallelSubtasks();
    int subtask = task.getIndexOfThisSubtask();
    publishedIndex = published == null ? new HashMap<>() : published.scan(id ->
        KeyGroupRangeAssignment.assignKeyToParallelOperator(id, maxParallelism, parallelism) == subtask,
        ReadBackCheck.of(signer, trustedPublicKeys), this::refused);
    long unlogged = refusedManifests.values().stream().mapToLong(Counter::getCount).sum() - REFUSALS_LOGGED;
    if (unlogged > 0) {
      LOG.warn("{} more manifests on the adapters topic are not used (refused_manifests counts them by reason)",
          unlogged);
    }
  }

  /** Refused manifests logged one by one per start; the rest are counted (a flooded topic floods no log). */
  private static final int REFUSALS_LOGGED = 20;

  /** A manifest read back that is not used: counted by reason and logged, never a failure. */
  private void refused(String id, ReadBackCheck.Refusal reason) {
    Counter c = refusedManifests.computeIfAbsent(reason, r -> getRuntimeContext().getMetricGroup()
        .addGroup("reason", r.name()).counter("refused_manifests"));
    c.inc();
    if (refusedManifests.values().stream().mapToLong(Counter::getCount).sum() <= REFUSALS_LOGGED) {
      LOG.warn("adapter {}: a manifest on the adapters topic is not used ({}): it neither numbers its versions "
          + "nor is continued from", AdapterIds.printable(id), reason);
    }
  }

  private Path modelPath() {
    return Paths.get(modelDir);
  }

  @Override
  public void close() {
    if (trainers != null) {
      trainers.values().forEach(Trainer::close);
      trainers.clear();
    }
    if (device != null) {
      device.close();
      device = null;
    }
    if (shared != null) {
      SharedModels.release(modelPath());
      shared = null;
    }
  }

  @Override
  public void processElement(TrainingItem item, Context ctx, Collector<EncodedRecord> out) throws Exception {
    String id = ctx.getCurrentKey();
    if (item.isErasure()) {
      if (EveryAdapter.isKey(id)) {
        eraseEverywhere(id, item, ctx);
      } else {
        erase(id, item, ctx);
      }
      return;
    }
    if (progressState.value() == null && snapshotPolicy.everyWallClockMs() > 0) {
      ctx.timerService().registerProcessingTimeTimer(
          ctx.timerService().currentProcessingTime() + snapshotPolicy.everyWallClockMs());
    }
    AdapterProgress p = progress(id);
    EvalPolicy eval = profiles.forAdapter(id).eval();
    if (p.evalCount < eval.cap() && eval.heldOut(id, item.exampleId, item.inputIds)) {
      item.dropOriginal(); // kept in state from here: the tokens are what counts
      evalSet.add(item); // held out: evaluated at every snapshot, never trained on
      p.evalCount++;
      metrics(id).evalExamples = p.evalCount;
      progressState.update(p.encode());
      return;
    }
    if (quotas.sharesLimited() && shares.overShare(id, quotas.maxShare())) {
      // a flood: this adapter took more than its share of the subtask while others train here
      metrics(id).overShare.inc();
      shares.turnedAway(item.inputIds.length);
      ctx.output(DecodeInstructions.DEAD_LETTERS, DecodeInstructions.deadLetter(item.original, item.originalKey,
          item.topic, item.partition, item.offset, DeadLetterReason.OVER_SHARE, "adapter '" + id + "' is over its "
              + "share of " + quotas.maxShare() + " of its training subtask", ctx.timerService().currentProcessingTime()));
      progressState.update(p.encode());
      return;
    }
    // A record this much event time after the oldest buffered one closes the buffered batch.
    if (batchPolicy.maxEventTimeSpanMs() > 0 && item.hasEventTime() && p.bufferedCount > 0
        && p.oldestBufferedEventTime != Long.MIN_VALUE
        && item.eventTime - p.oldestBufferedEventTime >= batchPolicy.maxEventTimeSpanMs()) {
      train(id, p, ctx, out);
    }
    item.dropOriginal(); // only a dead letter above needs the record's bytes; state need not hold them
    buffer.add(item);
    p.bufferedCount++;
    p.bufferedTokens += item.inputIds.length;
    if (item.hasEventTime()) {
      p.oldestBufferedEventTime = p.oldestBufferedEventTime == Long.MIN_VALUE
          ? item.eventTime : Math.min(p.oldestBufferedEventTime, item.eventTime);
    }
    if (p.bufferedCount >= batchPolicy.maxExamples() || p.bufferedTokens >= batchPolicy.maxTokens()) {
      train(id, p, ctx, out);
    } else if (batchPolicy.wallClockFlushMs() > 0 && p.bufferedCount == 1) {
      ctx.timerService().registerProcessingTimeTimer(
          ctx.timerService().currentProcessingTime() + batchPolicy.wallClockFlushMs());
    }
    metrics(id).buffered = p.bufferedCount;
    progressState.update(p.encode());
  }

  /** Opt-in wall-clock rules: flush a batch that waited long enough; publish on a timer. */
  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<EncodedRecord> out) throws Exception {
    String id = ctx.getCurrentKey();
    AdapterProgress p = progress(id);
    if (batchPolicy.wallClockFlushMs() > 0 && p.bufferedCount > 0) {
      train(id, p, ctx, out);
    }
    if (snapshotPolicy.everyWallClockMs() > 0) {
      if (p.stepsSinceSnapshot > 0) {
        publish(id, p, trainer(id), ctx, out);
      }
      ctx.timerService().registerProcessingTimeTimer(timestamp + snapshotPolicy.everyWallClockMs());
    }
    progressState.update(p.encode());
  }

  /** One optimizer step on the buffered examples, then a snapshot if one is due. */
  private void train(String id, AdapterProgress p, Context ctx, Collector<EncodedRecord> out) throws Exception {
    List<TrainingItem> items = new ArrayList<>();
    for (TrainingItem i : buffer.get()) {
      items.add(i);
    }
    if (items.isEmpty()) {
      return;
    }
    Trainer trainer = trainer(id);
    ContinualPolicy continual = profiles.forAdapter(id).continual();
    List<Example> fresh = new ArrayList<>(items.size());
    for (TrainingItem i : items) {
      fresh.add(new Example(i.inputIds, i.labels, i.weight));
    }
    ReplayReservoir reservoir = continual.replay().enabled() ? reservoir(id, continual.replay()) : null;
    boolean stepsTaken = trainer.step() > 0;
    GuardedStep.Outcome o = GuardedStep.take(trainer, fresh, reservoir, continual.replay(), continual.drift().enabled());
    StepResult r = o.result();
    int replayed = o.replayed();
    shares.trained(id, r.tokens() - o.replayTokens()); // replays do not count against the adapter's share
    if (reservoir != null) {
      for (TrainingItem i : items) { // offered after their step: a replay is always of an earlier step
        reservoir.offer(new ReplayReservoir.Entry(i.exampleId, i.userId, i.inputIds, i.labels, i.weight));
      }
      replayState.update(reservoir.toBytes());
      p.replayedExamples += replayed;
    }
    if (continual.retrainOnErasure()) {
      recordTrained(items, o.replays(), stepsTaken);
    }
    buffer.clear();
    p.clearBuffer();
    for (TrainingItem i : items) {
      p.addToLineage(i.topic, i.partition, i.offset);
      if (i.hasEventTime()) {
        p.lastTrainedEventTime = Math.max(p.lastTrainedEventTime, i.eventTime);
      }
    }
    if (!r.skipped()) {
      p.recordLoss(r.loss());
    }
    p.stepsSinceSnapshot++;
    if (continual.drift().enabled()) {
      trainer = observeDrift(id, p, trainer, continual.drift(), o.freshLoss());
    }
    p.step = trainer.step();
    p.baseFingerprint = shared.model().fingerprint();
    unsaved.add(id); // its training state is written at the next snapshot (writeTrainingState)

    AdapterMetrics m = metrics(id);
    m.examples.inc(r.examples());
    m.tokens.inc(r.tokens());
    m.steps.inc();
    if (r.skipped()) {
      m.skippedSteps.inc();
    }
    m.stepMillis.update(Math.round(r.seconds() * 1000));
    m.lastLoss = p.lastLoss;
    m.lossEma = p.lossEma;
    m.tokensPerSecond = r.seconds() > 0 ? r.tokens() / r.seconds() : 0;
    m.deviceBytes = trainer.backend() instanceof DeviceTrainer dt ? dt.adapterBytes() : 0;
    m.buffered = 0;
    if (reservoir != null) {
      m.replayedExamples.inc(replayed);
      m.replayExamples = reservoir.size();
      m.replayBytes = reservoir.bytes();
    }

    boolean eventTimeDue = snapshotPolicy.everyEventTimeMs() > 0 && p.lastTrainedEventTime != Long.MIN_VALUE
        && (p.lastSnapshotEventTime == Long.MIN_VALUE
            || p.lastTrainedEventTime - p.lastSnapshotEventTime >= snapshotPolicy.everyEventTimeMs());
    if (p.stepsSinceSnapshot >= snapshotPolicy.everySteps() || eventTimeDue) {
      publish(id, p, trainer, ctx, out);
    }
  }

  /**
   * A due snapshot: published as the next version ({@link EvalGate} decides), or held back by the
   * eval gate or because its adapter is not finite; then no version is used, the lineage goes on
   * into the next one, and the adapter trains on.
   */
  private void publish(String id, AdapterProgress p, Trainer trainer, Context ctx, Collector<EncodedRecord> out)
      throws Exception {
    AdapterProfile profile = profiles.forAdapter(id);
    ContinualPolicy.Anchor anchorPolicy = profile.continual().anchor();
    EvalGate gate = new EvalGate(profile.eval(), anchorPolicy);
    double evalLoss = evaluate(trainer, p);
    AdapterMetrics m = metrics(id);
    m.evalLoss = evalLoss;
    boolean finite = trainer.adapters().finite();
    double anchorLoss = Double.NaN;
    double baseAnchorLoss = Double.NaN;
    if (finite && AnchorSet.scores(anchorPolicy, p, p.dueSnapshots, trainer.tokensSeen())) {
      p.anchorScoredAtDue = p.dueSnapshots;
      p.anchorScoredAtTokens = trainer.tokensSeen();
      AnchorSet anchor = anchorSets.computeIfAbsent(anchorPolicy, a -> AnchorSet.of(a, profile, shared, device,
          recordsMaxSeqLen > 0 ? recordsMaxSeqLen : profile.train().maxSeqLen()));
      anchorLoss = anchor.score(trainer);
      baseAnchorLoss = anchor.baseLoss();
      m.anchorLoss = anchorLoss;
      m.baseAnchorLoss = baseAnchorLoss;
    }
    p.dueSnapshots++;
    EvalGate.Decision decision = gate.decide(p, evalLoss, finite, anchorLoss, baseAnchorLoss);
    switch (decision) {
      case HOLD_NOT_FINITE -> {
        p.heldBack();
        m.nonFiniteSnapshots.inc();
        LOG.error("adapter {}: its tensors are not finite after step {}; nothing is published", id, trainer.step());
      }
      case HOLD_GATED, HOLD_ANCHOR, HOLD_PINNED -> {
        p.heldBack();
        p.gatedSnapshots++;
        double tolerance = gate.policy().tolerance();
        if (decision == EvalGate.Decision.HOLD_GATED) {
          m.gatedSnapshots.inc();
          LOG.warn("adapter {}: the eval gate held back a snapshot at step {}: eval loss {} above {}, the best "
              + "published {} + {}", id, trainer.step(), LogNumbers.loss(evalLoss),
              LogNumbers.loss(p.bestEvalLoss * (1 + tolerance)), LogNumbers.loss(p.bestEvalLoss),
              LogNumbers.percent(tolerance));
        } else if (decision == EvalGate.Decision.HOLD_ANCHOR) {
          m.anchorGatedSnapshots.inc();
          tolerance = anchorPolicy.tolerance();
          LOG.warn("adapter {}: the anchor guard held back a snapshot at step {}: anchor loss {} above {}, the base "
              + "model's {} + {}", id, trainer.step(), LogNumbers.loss(anchorLoss),
              LogNumbers.loss(baseAnchorLoss * (1 + tolerance)), LogNumbers.loss(baseAnchorLoss),
              LogNumbers.percent(tolerance));
        } else {
          m.pinnedSnapshots.inc();
          LOG.info("adapter {}: a snapshot at step {} is held back: a drift pinned version {} until the new eval "
              + "set is full ({} of {} records)", id, trainer.step(), p.version, p.evalCount, gate.policy().cap());
        }
        ctx.output(GATED, EncodedRecord.of(id, SnapshotManifests.gated(id, p,
            SnapshotManifests.stats(trainer, p, evalLoss, anchorLoss, baseAnchorLoss), tolerance, decision.reason())));
      }
      case PUBLISH -> {
        if (gate.published(p, evalLoss)) {
          m.bestEvalLoss = p.bestEvalLoss;
        }
        emitVersion(id, p, trainer, evalLoss, anchorLoss, baseAnchorLoss, out);
        if (profile.continual().retrainOnErasure()) {
          versionState.update(trainer.encodedState()); // what an erasure that retrains goes back to
          trainedSinceVersion.update(TrainedSinceVersion.none().toBytes());
        } else { // turned off (or never on): nothing of an older version is kept to go back to later
          versionState.clear();
          trainedSinceVersion.clear();
        }
      }
    }
  }

  /**
   * The drift signal on one batch's loss before its step ({@link DriftDetector}); on an event, the
   * profile's policy: re-warm (the trainer continues with its schedule started over; answered) or
   * pin (the eval set starts again from the new data and the gate publishes nothing until it is full).
   */
  private Trainer observeDrift(String id, AdapterProgress p, Trainer trainer, ContinualPolicy.Drift policy,
      double loss) {
    DriftDetector.Verdict v = DriftDetector.observe(p.drift, loss, policy.settings());
    p.drift = v.state();
    AdapterMetrics m = metrics(id);
    m.driftBaseline = v.state().mean();
    if (!v.drift()) {
      return trainer;
    }
    p.driftEvents++;
    p.pendingDrift = new AdapterProgress.DriftNote(trainer.step(), v.loss(), v.baseline(), policy.onDrift().name());
    m.driftEvents.inc();
    LOG.warn("adapter {}: drift at step {}: the batch loss {} stayed above the recent average {} ({} batches in a "
        + "row); policy {}", id, trainer.step(), LogNumbers.loss(v.loss()), LogNumbers.loss(v.baseline()),
        policy.sustain(), policy.onDrift());
    switch (policy.onDrift()) {
      case NONE -> { }
      case REWARM -> {
        Trainer rewarmed = Trainer.restore(shared.model(), trainer.state(),
            trainer.config().toBuilder().scheduleStart(trainer.step()).build(), device);
        trainers.put(id, rewarmed);
        trainer.close();
        return rewarmed;
      }
      case PIN -> {
        evalSet.clear();
        p.evalCount = 0;
        p.bestEvalLoss = Double.NaN;
        p.pinned = true;
        m.evalExamples = 0;
      }
    }
    return trainer;
  }

  /**
   * The adapter's replay reservoir, from keyed state (under the profile's limits) or new (seeded by
   * the adapter id and profile seed).
   */
  private ReplayReservoir reservoir(String id, ContinualPolicy.Replay policy) throws Exception {
    byte[] b = replayState.value();
    if (b != null) {
      // the profile's limits now, which a restart with a changed job.yaml may have changed
      return ReplayReservoir.fromBytes(b).withLimits(policy.capacity(), policy.maxBytes());
    }
    long seed = ((long) id.hashCode() << 32) ^ profiles.forAdapter(id).train().seed();
    return new ReplayReservoir(policy.capacity(), policy.maxBytes(), seed);
  }

  /** Adds the items {@code matches} does not name (by example and user id) to {@code kept}; answers how many. */
  private static int keepUnmatched(Iterable<TrainingItem> items,
      java.util.function.BiPredicate<String, String> matches, List<TrainingItem> kept) {
    int removed = 0;
    for (TrainingItem i : items) {
      if (matches.test(i.exampleId, i.userId)) {
        removed++;
      } else {
        kept.add(i);
      }
    }
    return removed;
  }

  /**
   * An erasure request: the adapter's kept examples it names (by example id or user id) leave the
   * buffer, the eval set and the replay reservoir, and the next version's manifest tells it. With
   * {@code retrain} and a profile that allows it, the adapter also goes back to its last version's
   * training state, dropping the steps since. An adapter without state has nothing to erase.
   */
  private void erase(String id, TrainingItem request, Context ctx) throws Exception {
    byte[] b = progressState.value();
    if (b == null) {
      LOG.info("adapter {}: an erasure request at {} {} {} names an adapter this job holds nothing of",
          AdapterIds.printable(id), request.topic, request.partition, request.offset);
      return;
    }
    AdapterProgress p = progress(id);
    if (request.requestId != 0 && SignedRequestsSeen.seen(signedRequests, request.requestId)) {
      refuse(request, ctx, DeadLetterReason.INVALID_CONTROL_RECORD, "a copy of a signed request adapter '" + id
          + "' already acted on (issued at " + Instant.ofEpochMilli(request.requestIssuedAt)
          + "): acted on once");
      progressState.update(p.encode()); // reading it may have renumbered it (NeverBackwards)
      return;
    }
    if (p.erasuresPending >= PendingErasures.MAX_PENDING) { // a flood: the adapter's state would grow without end
      metrics(id).overErasureLimit.inc();
      refuse(request, ctx, DeadLetterReason.OVER_ERASURE_LIMIT, "adapter '" + id + "' has " + p.erasuresPending
          + " erasure requests that no version has listed yet (at most " + PendingErasures.MAX_PENDING
          + "): this one was not applied; send it again once versions list them");
      progressState.update(p.encode());
      return;
    }
    java.util.function.BiPredicate<String, String> matches = (exampleId, userId) ->
        (request.eraseExampleId != null && request.eraseExampleId.equals(exampleId))
            || (request.eraseUserId != null && request.eraseUserId.equals(userId));
    List<TrainingItem> kept = new ArrayList<>();
    int removedBuffered = keepUnmatched(buffer.get(), matches, kept);
    if (removedBuffered > 0) {
      buffer.update(kept);
      p.clearBuffer();
      for (TrainingItem i : kept) {
        p.bufferedCount++;
        p.bufferedTokens += i.inputIds.length;
        if (i.hasEventTime()) {
          p.oldestBufferedEventTime = p.oldestBufferedEventTime == Long.MIN_VALUE
              ? i.eventTime : Math.min(p.oldestBufferedEventTime, i.eventTime);
        }
      }
    }
    List<TrainingItem> keptEval = new ArrayList<>();
    int removedEval = keepUnmatched(evalSet.get(), matches, keptEval);
    if (removedEval > 0) {
      evalSet.update(keptEval);
      p.evalCount = keptEval.size();
      p.bestEvalLoss = Double.NaN; // measured on another set: the next complete set judges afresh
    }
    int removedReplay = 0;
    byte[] replay = replayState.value();
    java.util.function.Predicate<ReplayReservoir.Entry> named = e -> matches.test(e.exampleId(), e.userId());
    if (replay != null && ReplayReservoir.keepsAny(replay, named)) { // decoded only where it loses something
      ReplayReservoir r = ReplayReservoir.fromBytes(replay);
      removedReplay = r.remove(named);
      replayState.update(r.toBytes());
      metrics(id).replayExamples = r.size();
      metrics(id).replayBytes = r.bytes();
    }
    long discarded = request.eraseRetrain ? retrain(id, p, request) : -1;
    boolean retrained = discarded >= 0;
    discarded = Math.max(discarded, 0);
    pendingErasures.add(PendingErasures.encode(new PendingErasures.Note(
        request.eraseExampleId == null ? "" : request.eraseExampleId, request.eraseUserId == null ? "" : request.eraseUserId,
        request.topic == null ? "" : request.topic, request.partition, request.offset,
        removedBuffered, removedReplay, removedEval, retrained, discarded)));
    p.erasuresPending++;
    metrics(id).erasuresPending = p.erasuresPending;
    if (request.requestId != 0) {
      p.signedRequests = SignedRequestsSeen.remember(signedRequests, p.signedRequests, request.requestId,
          request.requestIssuedAt, request.requestExpiresAt);
    }
    AdapterMetrics m = metrics(id);
    m.erasures.inc();
    m.erasedExamples.inc(removedBuffered + removedReplay + removedEval);
    m.buffered = p.bufferedCount;
    m.evalExamples = p.evalCount;
    LOG.info("adapter {}: erasure applied: {} buffered, {} replay and {} eval examples removed{}",
        AdapterIds.printable(id), removedBuffered, removedReplay, removedEval,
        retrained ? "; back to version " + p.version + " (" + discarded + " steps dropped)" : "");
    progressState.update(p.encode());
  }

  /**
   * A copy of a request to every adapter ({@link EveryAdapter}): applied to each adapter of its key
   * group in this subtask, as a request to that adapter alone would be.
   */
  private void eraseEverywhere(String key, TrainingItem request, Context ctx) throws Exception {
    int maxParallelism = getRuntimeContext().getTaskInfo().getMaxNumberOfParallelSubtasks();
    if (EveryAdapter.maxParallelism(key) != maxParallelism) { // not this job's copies: some adapters would be missed
      refuse(request, ctx, DeadLetterReason.UNEXPECTED, "a request to every adapter copied for max parallelism "
          + EveryAdapter.maxParallelism(key) + ", not the trainer's " + maxParallelism + ": not applied");
      return;
    }
    for (String id : keys.inKeyGroup(KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism))) {
      keys.underKey(id, () -> erase(id, request.forAdapter(id), ctx));
    }
  }

  /** A control request not acted on goes to the dead-letter topic as it was written. */
  private static void refuse(TrainingItem request, Context ctx, DeadLetterReason reason, String message) {
    ctx.output(DecodeInstructions.DEAD_LETTERS, DecodeInstructions.deadLetter(request.original, request.originalKey,
        request.topic, request.partition, request.offset, reason, message, ctx.timerService().currentProcessingTime()));
  }

  /**
   * An erasure's retrain: the adapter goes back to its last version's training state (or to a new
   * adapter before its first version), dropping the steps since, when the profile allows it and a
   * step since trained on an example the request names ({@link TrainedSinceVersion}); otherwise the
   * weights stay as they are, and the log says why. The steps dropped, or -1 where none were.
   */
  private long retrain(String id, AdapterProgress p, TrainingItem request) throws Exception {
    AdapterProfile profile = profiles.forAdapter(id);
    String printable = AdapterIds.printable(id);
    if (!profile.continual().retrainOnErasure()) {
      LOG.warn("adapter {}: an erasure asked to retrain, but its profile does not allow it (erasure-retrain); "
          + "the examples were removed, the weights are unchanged", printable);
      return -1;
    }
    TrainedSinceVersion trained = TrainedSinceVersion.of(trainedSinceVersion.value(), p.step > 0);
    if (!trained.names(request.eraseExampleId, request.eraseUserId)) {
      LOG.info("adapter {}: an erasure asked to retrain, but no step since version {} trained on an example it "
          + "names; the weights are unchanged", printable, p.version);
      return -1;
    }
    byte[] atVersion = versionState.value();
    if (atVersion == null && p.version > 0) {
      LOG.warn("adapter {}: an erasure asked to retrain, but no training state of version {} is kept (erasure-retrain "
          + "was turned on after it was published); the weights are unchanged until the next version", printable,
          p.version);
      return -1;
    }
    Trainer now = trainer(id);
    Trainer back;
    if (atVersion != null) {
      TrainingState restored = TrainingStateCodec.decode(atVersion);
      back = Trainer.restore(shared.model(), restored, restored.trainConfig(), device);
    } else { // no version yet: back to a new adapter
      back = Trainer.create(shared.model(), profile.adapter(), profile.train(), device);
    }
    long discarded = now.step() - back.step();
    trainers.put(id, back);
    now.close();
    unsaved.add(id);
    p.step = back.step();
    p.stepsSinceSnapshot = 0;
    trainedSinceVersion.update(TrainedSinceVersion.none().toBytes());
    return discarded;
  }

  /** Adds a step's examples, fresh and replayed, to what an erasure's retrain could undo. */
  private void recordTrained(List<TrainingItem> fresh, List<ReplayReservoir.Entry> replays, boolean stepsTaken)
      throws Exception {
    TrainedSinceVersion trained = TrainedSinceVersion.of(trainedSinceVersion.value(), stepsTaken);
    for (TrainingItem i : fresh) {
      trained.add(i.exampleId, i.userId);
    }
    for (ReplayReservoir.Entry e : replays) {
      trained.add(e.exampleId(), e.userId());
    }
    trainedSinceVersion.update(trained.toBytes());
  }

  /** Emits the adapter as its next version: inline, or as a claim check on a blob written first. */
  private void emitVersion(String id, AdapterProgress p, Trainer trainer, double evalLoss, double anchorLoss,
      double baseAnchorLoss, Collector<EncodedRecord> out) throws Exception {
    p.version = NeverBackwards.nextVersion(p);
    PeftExport.AdapterFiles files = PeftExporter.render(trainer.adapters(), shared.model(),
        SnapshotManifests.format(trainer.adapters().config().method()), trainer.adapters().config().r());
    long size = files.weights().length + files.configJson().length();
    Object payload = size <= snapshotPolicy.inlineLimitBytes()
        ? SnapshotManifests.inline(files)
        : BlobStore.write(snapshotPolicy.blobStoreUri(), id, p.version, files);
    List<byte[]> waiting = new ArrayList<>();
    List<PendingErasures.Note> notes = new ArrayList<>();
    if (p.erasuresPending > 0) {
      for (byte[] e : pendingErasures.get()) {
        waiting.add(e);
        notes.add(PendingErasures.decode(e));
      }
    }
    int listed = PendingErasures.listable(notes);
    AdapterSnapshot snapshot = SnapshotManifests.published(id, p, trainer, shared, payload,
        SnapshotManifests.stats(trainer, p, evalLoss, anchorLoss, baseAnchorLoss), notes.subList(0, listed));
    out.collect(EncodedRecord.of(id, signer == null ? snapshot : ManifestSignatures.sign(snapshot, signer)));
    p.published();
    if (p.erasuresPending > 0) { // those not listed wait for the next version
      pendingErasures.update(new ArrayList<>(waiting.subList(listed, waiting.size())));
      p.erasuresPending = waiting.size() - listed;
      metrics(id).erasuresPending = p.erasuresPending;
    }
    AdapterMetrics m = metrics(id);
    m.snapshots.inc();
    m.version = p.version;
    m.snapshotBytes = size;
  }

  /** The mean loss over the adapter's eval set; NaN when it has none. */
  private double evaluate(Trainer trainer, AdapterProgress p) throws Exception {
    if (p.evalCount == 0) {
      return Double.NaN;
    }
    List<Example> examples = new ArrayList<>(p.evalCount);
    for (TrainingItem i : evalSet.get()) {
      examples.add(new Example(i.inputIds, i.labels, i.weight));
    }
    return trainer.evaluate(examples);
  }

  private AdapterProgress progress(String id) throws Exception {
    byte[] b = progressState.value();
    AdapterProgress p = b == null ? new AdapterProgress() : AdapterProgress.decode(b);
    if (!p.legacyErasures.isEmpty()) { // an earlier build kept them in the progress: moved to their own state
      for (PendingErasures.Note n : p.legacyErasures) {
        pendingErasures.add(PendingErasures.encode(n));
      }
      p.erasuresPending += p.legacyErasures.size();
      p.legacyErasures.clear();
      progressState.update(p.encode());
    }
    if (p.erasuresPending > 0) {
      metrics(id).erasuresPending = p.erasuresPending; // also after a restore
    }
    if (reconciled.add(id)) {
      reconcileWithPublished(id, p);
    }
    return p;
  }

  /**
   * Once per adapter after start: makes sure the next version number is above every published
   * one ({@link NeverBackwards}), and removes blobs of versions that were never published.
   */
  private void reconcileWithPublished(String id, AdapterProgress p) throws Exception {
    PublishedSnapshots.Ref ref = publishedIndex.remove(id);
    long newest = ref == null ? 0 : ref.version();
    // the training state is read only when something newer was published
    boolean hasTrainingState = newest > p.version && trainingState.value() != null;
    switch (NeverBackwards.onStart(p, hasTrainingState, newest)) {
      case OWN_STATE -> { }
      case CONTINUE_FROM_PUBLISHED -> continueFromPublished(id, p, published.fetch(ref));
      case NUMBER_AFTER_PUBLISHED -> {
        LOG.warn("adapter {}: the restored state is at version {} but version {} was already published; "
            + "its next version will be {}", id, p.version, newest, newest + 1);
        NeverBackwards.numberAfter(p, newest);
        metrics(id).resumptions.inc();
      }
    }
    for (String orphan : BlobStore.removeVersionsAbove(snapshotPolicy.blobStoreUri(), id, p.version)) {
      LOG.info("adapter {}: removed blob {} of a version that was never published", id, orphan);
      metrics(id).orphanBlobsRemoved.inc();
    }
  }

  /**
   * An adapter without state continues from its newest published snapshot, fresh optimizer; from a
   * new adapter numbered after it when that snapshot was trained on another base model, or when its
   * payload cannot be used (it does not decode, does not fit the base model, or its blob is gone or
   * changed: counted as a refused manifest), never a failing job.
   */
  private void continueFromPublished(String id, AdapterProgress p, AdapterSnapshot m) {
    String name = id + "@" + m.getVersion();
    AdapterProfile profile = profiles.forAdapter(id);
    Trainer t;
    String reason;
    if (m.getBaseModel().getWeightsSha256().equals(shared.model().fingerprint())) {
      try {
        AdapterSet adapters = adapterOf(m, name);
        TrainingStats s = m.getStats();
        t = Trainer.continueFrom(shared.model(), adapters, profile.train(), s.getStep(), s.getSkippedSteps(),
            s.getTokens(), s.getExamples(), device);
        p.lastLoss = s.getLastLoss();
        p.lossEma = s.getLossEma();
        reason = "NO_STATE";
        LOG.warn("adapter {} has no state but version {} was published: continuing from it at step {} with a "
            + "fresh optimizer", id, m.getVersion(), s.getStep());
      } catch (RuntimeException e) {
        refused(id, ReadBackCheck.Refusal.UNUSABLE_PAYLOAD);
        LOG.warn("adapter {} has no state and its newest published version {} cannot be continued from ({}): "
            + "starting a new adapter, numbered after it", id, m.getVersion(), e.getMessage());
        t = Trainer.create(shared.model(), profile.adapter(), profile.train(), device);
        reason = "UNUSABLE_SNAPSHOT";
      }
    } else {
      t = Trainer.create(shared.model(), profile.adapter(), profile.train(), device);
      reason = "BASE_MODEL_CHANGED";
      LOG.warn("adapter {} has no state and its newest published version {} was trained on another base model "
          + "({}): starting a new adapter on {}, numbered after it", id, m.getVersion(),
          m.getBaseModel().getName(), shared.model().name());
    }
    trainers.put(id, t);
    NeverBackwards.continuedFrom(p, m.getVersion(), reason);
    p.step = t.step();
    p.baseFingerprint = shared.model().fingerprint();
    metrics(id).resumptions.inc();
    unsaved.add(id); // its training state is written at the next snapshot, as after a step
  }

  /** The adapter of a manifest: inline, or from its blob (whose size and digests are checked). */
  private AdapterSet adapterOf(AdapterSnapshot m, String name) {
    if (m.getPayload() instanceof InlineAdapter in) {
      byte[] weights = new byte[in.getAdapterModelSafetensors().remaining()];
      in.getAdapterModelSafetensors().duplicate().get(weights);
      return PeftImporter.read(in.getAdapterConfigJson(), weights, shared.model(), name);
    }
    BlobStore.AdapterBlob blob = BlobStore.read((ClaimCheck) m.getPayload());
    return PeftImporter.read(blob.configJson(), blob.weights(), shared.model(), name);
  }

  /** The live trainer of an adapter: cached, or rebuilt from its state, or new from its profile. */
  private Trainer trainer(String id) throws Exception {
    Trainer t = trainers.get(id);
    if (t == null) {
      byte[] state = trainingState.value();
      if (state != null) {
        TrainingState restored = TrainingStateCodec.decode(state);
        t = Trainer.restore(shared.model(), restored, restored.trainConfig(), device);
      } else {
        AdapterProfile profile = profiles.forAdapter(id);
        t = Trainer.create(shared.model(), profile.adapter(), profile.train(), device);
      }
      trainers.put(id, t);
    }
    return t;
  }

  /**
   * The adapters whose training state must be written before a snapshot: live and trained since
   * their keyed state was last written. {@link AdapterTrainerOperator} writes each with
   * {@link #writeTrainingState} under its key when a checkpoint or savepoint is taken.
   */
  Set<String> unsavedAdapters() {
    return new HashSet<>(unsaved);
  }

  void keys(Keys keys) {
    this.keys = keys;
  }

  /**
   * Writes one adapter's training state into keyed state; the current key must be {@code id}. The
   * bytes are the ones writing after every step gave: the trainer has not changed since its last
   * step.
   */
  void writeTrainingState(String id) throws Exception {
    Trainer t = trainers.get(id);
    byte[] state = t != null && unsaved.contains(id) ? t.encodedState() : null;
    unsaved.remove(id);
    if (state != null) {
      trainingState.update(state);
      metrics(id).stateBytes = state.length;
    }
  }

  private AdapterMetrics metrics(String id) {
    return metrics.computeIfAbsent(id, k -> new AdapterMetrics(getRuntimeContext().getMetricGroup(), k));
  }
}
