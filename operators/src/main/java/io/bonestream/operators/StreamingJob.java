package io.bonestream.operators;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.engine.config.TrainConfig;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.decode.ControlRecords;
import io.bonestream.operators.decode.ControlTrust;
import io.bonestream.operators.decode.DecodeControl;
import io.bonestream.operators.decode.DecodeInstructions;
import io.bonestream.operators.decode.InputLimits;
import io.bonestream.operators.decode.KafkaInputDeserializer;
import io.bonestream.operators.publish.PublishedVersions;
import io.bonestream.operators.publish.SigningKeySource;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.operators.train.AdapterAdmission;
import io.bonestream.operators.train.AdapterProfile;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.AdapterTrainer;
import io.bonestream.operators.train.AdapterTrainerOperator;
import io.bonestream.operators.train.BatchPolicy;
import io.bonestream.operators.train.Quotas;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.Properties;
import java.util.regex.Pattern;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import io.bonestream.operators.decode.InputSpec;
import io.bonestream.operators.decode.Subscription;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.jspecify.annotations.Nullable;

/**
 * The streaming trainer: instructions topic → decode, validate, tokenize (bad records to the
 * dead-letter topic) → [admission] → joined by the control topic's erasure requests → keyed by
 * adapter id → {@link AdapterTrainer} → adapter manifests on the
 * adapters topic, exactly once. Build it with {@link #builder()}, then {@link #addTo} an
 * environment with checkpointing on (Kafka transactions commit on checkpoints).
 */
public final class StreamingJob {
  public static final String INSTRUCTIONS_TOPIC = "bonestream.instructions";
  public static final String ADAPTERS_TOPIC = "bonestream.adapters";
  public static final String DEAD_LETTER_TOPIC = "bonestream.dlq";
  public static final String GATED_TOPIC = "bonestream.gated";
  /** Requests to the job (erasures, {@link ControlRecords}). */
  public static final String CONTROL_TOPIC = "bonestream.control";

  private final Builder b;
  private final String baseModelFingerprint;

  private StreamingJob(Builder b, String baseModelFingerprint) {
    this.b = b;
    this.baseModelFingerprint = baseModelFingerprint;
  }

  public static Builder builder() {
    return new Builder();
  }

  public String bootstrapServers() {
    return b.bootstrapServers;
  }

  /** The instructions topic of a job with one Avro input (the first input's first topic otherwise). */
  public String instructionsTopic() {
    return b.inputs.get(0).topics().isEmpty() ? b.instructionsTopic : b.inputs.get(0).topics().get(0);
  }

  /** What the job reads. */
  public List<InputSpec> inputs() {
    return b.inputs;
  }

  public int maxSeqLen() {
    return b.maxSeqLen;
  }

  public InputLimits inputLimits() {
    return b.inputLimits;
  }

  /** The Kafka client properties every client of the job gets (a copy). */
  public java.util.Properties kafkaProperties() {
    java.util.Properties p = new java.util.Properties();
    p.putAll(b.kafkaProperties);
    return p;
  }

  public String adaptersTopic() {
    return b.adaptersTopic;
  }

  public String deadLetterTopic() {
    return b.deadLetterTopic;
  }

  /** Where snapshots the eval gate held back are logged ({@code GatedSnapshot}). */
  public String gatedTopic() {
    return b.gatedTopic;
  }

  /** Where requests to the job (erasures) are read from ({@link ControlRecords}). */
  public String controlTopic() {
    return b.controlTopic;
  }

  /** Which control records the job acts on ({@link ControlTrust}). */
  public ControlTrust controlTrust() {
    return b.controlTrust;
  }

  public String modelDir() {
    return b.modelDir;
  }

  public AdapterProfiles profiles() {
    return b.profiles;
  }

  /** Where the training steps run: {@code cpu} or {@code cuda}, and the precision. */
  public io.bonestream.engine.backend.BackendSpec backend() {
    return b.backend;
  }

  /** The fingerprint of the base model in {@link #modelDir()}, read when the job was built. */
  public String baseModelFingerprint() {
    return baseModelFingerprint;
  }

  /** Adds the pipeline to {@code env}. */
  public void addTo(StreamExecutionEnvironment env) {
    KafkaSourceBuilder<KafkaInput> sourceBuilder = source(b.groupId);
    Subscription.of(b.inputs).applyTo(sourceBuilder);
    KafkaSource<KafkaInput> source = sourceBuilder.build();
    SingleOutputStreamOperator<TrainingItem> items = env
        .fromSource(source, WatermarkStrategy.noWatermarks(), "instructions")
        .uid("instructions-source")
        .process(new DecodeInstructions(b.modelDir, b.maxSeqLen, b.inputLimits,
            b.quotas.maxAdapters() > 0 || b.quotas.sharesLimited(), b.inputs), TypeInformation.of(TrainingItem.class))
        .name("decode-validate-tokenize")
        .uid("decode");
    DataStream<EncodedRecord> deadLetters = items.getSideOutput(DecodeInstructions.DEAD_LETTERS);
    DataStream<TrainingItem> admitted = items;
    if (b.quotas.maxAdapters() > 0) {
      // one count for the whole job: a keyed step of parallelism 1 (only when a cap is set)
      SingleOutputStreamOperator<TrainingItem> admission = items
          .keyBy(i -> i.adapterId, TypeInformation.of(String.class))
          .process(new AdapterAdmission(b.quotas.maxAdapters()), TypeInformation.of(TrainingItem.class))
          .setParallelism(1)
          .name("admit-adapters")
          .uid("adapter-admission");
      deadLetters = deadLetters.union(admission.getSideOutput(DecodeInstructions.DEAD_LETTERS));
      admitted = admission;
    }
    // Requests (erasures) have a source of their own, and join after admission: they count against
    // no quota, and an erasure for an adapter the job does not train admits none. The topic is read
    // as a pattern of its one name, so that a job whose control topic does not exist yet still
    // starts (partition discovery finds it once it is created, from its earliest record). decode-control
    // knows the trainer's max parallelism (set on the trainer below): a request to every adapter goes to
    // each of its key groups (EveryAdapter).
    int maxParallelism = env.getMaxParallelism() > 0 ? env.getMaxParallelism()
        : KeyGroupRangeAssignment.DEFAULT_LOWER_BOUND_MAX_PARALLELISM;
    KafkaSourceBuilder<KafkaInput> controlBuilder = source(b.groupId + "-control");
    controlBuilder.setTopicPattern(Pattern.compile(Pattern.quote(b.controlTopic)));
    SingleOutputStreamOperator<TrainingItem> erasures = env
        .fromSource(controlBuilder.build(), WatermarkStrategy.noWatermarks(), "control")
        .uid("control-source")
        .setParallelism(1)
        .process(new DecodeControl(b.controlTrust, maxParallelism), TypeInformation.of(TrainingItem.class))
        .setParallelism(1)
        .name("decode-control")
        .uid("decode-control");
    deadLetters = deadLetters.union(erasures.getSideOutput(DecodeInstructions.DEAD_LETTERS));
    admitted = admitted.union(erasures);
    SingleOutputStreamOperator<EncodedRecord> manifests = admitted
        .keyBy(i -> i.adapterId, TypeInformation.of(String.class))
        .transform("train-adapters", TypeInformation.of(EncodedRecord.class), new AdapterTrainerOperator(
            new AdapterTrainer(b.modelDir, b.profiles, b.batchPolicy, b.snapshotPolicy,
            b.maxCachedAdapters, b.continueFromPublished
                ? new PublishedVersions(b.bootstrapServers, b.kafkaProperties, b.adaptersTopic) : null,
            b.backend, b.signing, b.trustedPublicKeys, b.quotas).recordsMaxSeqLen(b.maxSeqLen)))
        .uid(AdapterTrainer.UID)
        .setMaxParallelism(maxParallelism);
    deadLetters.union(manifests.getSideOutput(DecodeInstructions.DEAD_LETTERS))
        .sinkTo(sink(b.deadLetterTopic, "dlq"))
        .name("dead-letters")
        .uid("dead-letter-sink")
        .disableChaining();
    manifests.getSideOutput(AdapterTrainer.GATED)
        .sinkTo(sink(b.gatedTopic, "gated"))
        .name("gated-snapshots")
        .uid("gated-sink")
        .disableChaining();
    if (b.manifestStep != null) {
      manifests = manifests.map(b.manifestStep, TypeInformation.of(EncodedRecord.class))
          .name("manifest-step").uid("manifest-step");
    }
    // The sinks run in their own tasks, not chained to the training step: a sink commits its Kafka
    // transaction when the checkpoint completes, an action of its task's thread, which in the
    // trainer's task would wait for the step in progress (seconds on large models) before a version
    // becomes visible.
    manifests
        .sinkTo(sink(b.adaptersTopic, "adapters"))
        .name("adapter-snapshots")
        .uid("adapter-sink")
        .disableChaining();
  }

  /** A source of raw records, exactly once: committed offsets (the earliest without), committed transactions only. */
  private KafkaSourceBuilder<KafkaInput> source(String groupId) {
    return KafkaSource.<KafkaInput>builder()
        .setBootstrapServers(b.bootstrapServers)
        .setDeserializer(new KafkaInputDeserializer())
        .setGroupId(groupId)
        .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
        .setProperties(b.kafkaProperties)
        .setProperty("partition.discovery.interval.ms", Long.toString(b.partitionDiscoveryMs))
        .setProperty("isolation.level", "read_committed");
  }

  private KafkaSink<EncodedRecord> sink(String topic, String role) {
    Properties props = new Properties();
    props.putAll(b.kafkaProperties);
    // Below the broker's transaction.max.timeout.ms (15 min by default), or the sink cannot start.
    props.setProperty("transaction.timeout.ms", Long.toString(b.transactionTimeoutMs));
    return KafkaSink.<EncodedRecord>builder()
        .setBootstrapServers(b.bootstrapServers)
        .setKafkaProducerConfig(props)
        .setRecordSerializer(new EncodedRecordSerializer(topic))
        .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
        .setTransactionalIdPrefix(b.transactionalIdPrefix + "-" + role)
        .build();
  }

  /** Settings of the job; {@link #build()} validates them. */
  public static final class Builder {
    private String bootstrapServers;
    private String instructionsTopic = INSTRUCTIONS_TOPIC;
    private String adaptersTopic = ADAPTERS_TOPIC;
    private String deadLetterTopic = DEAD_LETTER_TOPIC;
    private String gatedTopic = GATED_TOPIC;
    private String controlTopic = CONTROL_TOPIC;
    private ControlTrust controlTrust = ControlTrust.ANY;
    private String groupId = "bonestream";
    private Properties kafkaProperties = new Properties();
    private String modelDir;
    private AdapterProfiles profiles = AdapterProfiles.of(new AdapterProfile(
        AdapterConfig.builder().build(), TrainConfig.builder().build()));
    private BatchPolicy batchPolicy = BatchPolicy.ofExamples(8);
    private SnapshotPolicy snapshotPolicy;
    private String blobStoreUri;
    private int maxSeqLen = 512;
    private String transactionalIdPrefix = "bonestream";
    private long transactionTimeoutMs = 600_000;
    private long partitionDiscoveryMs = 30_000;
    private int maxCachedAdapters = 64;
    private io.bonestream.engine.backend.BackendSpec backend = io.bonestream.engine.backend.BackendSpec.CPU;
    private boolean continueFromPublished = true;
    private @Nullable SigningKeySource signing;
    private List<String> trustedPublicKeys = List.of();
    private InputLimits inputLimits = InputLimits.DEFAULT;
    private List<InputSpec> inputs = List.of();
    private Quotas quotas = Quotas.NONE;
    private @Nullable BaseModel validatedWith;
    private @Nullable MapFunction<EncodedRecord, EncodedRecord> manifestStep;

    public Builder bootstrapServers(String v) { bootstrapServers = v; return this; }
    /** The one instructions topic, of Avro {@code InstructionRecord}s (when no {@link #inputs} are given). */
    public Builder instructionsTopic(String v) { instructionsTopic = v; return this; }
    /**
     * The topics the job reads, each in its own format (JSON shapes, Avro, a registry's Avro); a
     * record is read as the first input naming its topic says. Default: {@link #instructionsTopic}.
     */
    public Builder inputs(List<InputSpec> v) { inputs = List.copyOf(v); return this; }
    public Builder adaptersTopic(String v) { adaptersTopic = v; return this; }
    public Builder deadLetterTopic(String v) { deadLetterTopic = v; return this; }
    public Builder gatedTopic(String v) { gatedTopic = v; return this; }
    /** Where requests to the job (erasures) are read from; it need not exist when the job starts. */
    public Builder controlTopic(String v) { controlTopic = v; return this; }
    /** Which control records the job acts on: any valid one (the default) or only signed ones. */
    public Builder controlTrust(ControlTrust v) { controlTrust = java.util.Objects.requireNonNull(v); return this; }
    public Builder groupId(String v) { groupId = v; return this; }
    /** Client properties for every Kafka client of the job (TLS, SASL, ...). */
    public Builder kafkaProperties(Properties v) { kafkaProperties = v; return this; }
    public Builder modelDir(String v) { modelDir = v; return this; }
    public Builder profiles(AdapterProfiles v) { profiles = v; return this; }
    public Builder batchPolicy(BatchPolicy v) { batchPolicy = v; return this; }
    public Builder snapshotPolicy(SnapshotPolicy v) { snapshotPolicy = v; return this; }
    /** Where large adapters go; sets a default snapshot policy (every 10 steps) if none is given. */
    public Builder blobStoreUri(String v) { blobStoreUri = v; return this; }
    public Builder maxSeqLen(int v) { maxSeqLen = v; return this; }
    /** Where the training steps run: cpu (default) or cuda in bf16 or fp32. */
    public Builder backend(io.bonestream.engine.backend.BackendSpec v) { backend = v; return this; }
    public Builder transactionalIdPrefix(String v) { transactionalIdPrefix = v; return this; }
    public Builder transactionTimeoutMs(long v) { transactionTimeoutMs = v; return this; }
    public Builder partitionDiscoveryMs(long v) { partitionDiscoveryMs = v; return this; }
    public Builder maxCachedAdapters(int v) { maxCachedAdapters = v; return this; }

    /**
     * Whether the trainer reads the adapters topic on start so that versions never go backwards
     * (default true; see {@link AdapterTrainer}). Off only to show, in tests, what it prevents.
     */
    public Builder continueFromPublished(boolean v) { continueFromPublished = v; return this; }

    /** Caps on a record's size, checked before decoding (defaults: {@link InputLimits#DEFAULT}). */
    public Builder inputLimits(InputLimits v) { inputLimits = v; return this; }

    /** Caps on adapters per job and on one adapter's share of a subtask (default: none). */
    public Builder quotas(Quotas v) { quotas = v; return this; }

    /** Signs every manifest with the Ed25519 key found there (read on the TaskManagers). */
    public Builder signing(@Nullable SigningKeySource v) { signing = v; return this; }
    /**
     * Public keys (PEM text, as {@code keygen}'s {@code .pub} files hold them) whose manifests the
     * job trusts when it reads the adapters topic back, besides its own signing key's.
     */
    public Builder trustedPublicKeys(List<String> v) { trustedPublicKeys = List.copyOf(v); return this; }

    /**
     * A step every encoded manifest passes through before the sink (e.g. to sign it); it must be
     * deterministic for replays to stay exact.
     */
    public Builder manifestStep(MapFunction<EncodedRecord, EncodedRecord> v) { manifestStep = v; return this; }

    /** Validates adapter profiles against an already loaded model instead of loading it again. */
    public Builder validatedWith(BaseModel model) { validatedWith = model; return this; }

    public StreamingJob build() {
      require(bootstrapServers, "Kafka bootstrap servers");
      require(modelDir, "model folder");
      require(instructionsTopic, "instructions topic");
      if (inputs.isEmpty()) {
        inputs = List.of(InputSpec.avro(instructionsTopic));
      }
      require(adaptersTopic, "adapters topic");
      require(deadLetterTopic, "dead-letter topic");
      require(gatedTopic, "gated-snapshots topic");
      require(controlTopic, "control topic");
      for (InputSpec in : inputs) {
        if (in.reads(controlTopic)) {
          throw new BonestreamException("the control topic " + controlTopic + " is also an input ("
              + in.describe() + "): its records are requests, not examples");
        }
      }
      require(groupId, "consumer group id");
      require(transactionalIdPrefix, "transactional id prefix");
      if (snapshotPolicy == null) {
        require(blobStoreUri, "blob store URI");
        snapshotPolicy = new SnapshotPolicy(10, 0, 0, SnapshotPolicy.DEFAULT_INLINE_LIMIT, blobStoreUri);
      }
      if (maxSeqLen < 2 || maxCachedAdapters < 1 || partitionDiscoveryMs < 0) {
        throw new BonestreamException("max sequence length must be ≥ 2 and max cached adapters ≥ 1");
      }
      if (transactionTimeoutMs <= 0 || transactionTimeoutMs > 900_000) {
        throw new BonestreamException("transaction timeout must be in (0, 900000] ms, the broker's "
            + "default maximum; got " + transactionTimeoutMs);
      }
      if (!Files.isDirectory(Paths.get(modelDir))) {
        throw new BonestreamException("model folder not found: " + modelDir + (Paths.get(modelDir).isAbsolute() ? ""
            : " (a relative path is taken from the working folder, " + Paths.get("").toAbsolutePath() + ")"));
      }
      BaseModel model = validatedWith != null ? validatedWith : BaseModel.load(Paths.get(modelDir));
      profiles.validate(model);
      if (signing != null) {
        signing.load(); // a missing or unreadable key is a configuration error, not a failing job
      }
      return new StreamingJob(this, model.fingerprint());
    }

    private static void require(Object v, String what) {
      if (v == null || (v instanceof String s && s.isBlank())) {
        throw new BonestreamException("the streaming job needs a " + what);
      }
    }
  }
}
