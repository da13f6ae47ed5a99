package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.InvalidExampleException;
import io.bonestream.engine.data.Instruction;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.DeadLetter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Decodes instruction records in their topic's {@link InputFormat} (Avro, a registry's Avro, JSON),
 * validates and tokenizes them. Every
 * record either becomes a {@link TrainingItem} or goes to the {@link #DEAD_LETTERS} side output
 * with its original bytes and a reason: the job never fails on input.
 */
public final class DecodeInstructions extends ProcessFunction<KafkaInput, TrainingItem> {
  /** Dead letters, encoded and keyed like the original record. */
  public static final OutputTag<EncodedRecord> DEAD_LETTERS =
      new OutputTag<>("dead-letters", org.apache.flink.api.common.typeinfo.TypeInformation.of(EncodedRecord.class));

  private final String modelDir;
  private final int maxSeqLen;
  private final InputLimits limits;
  // an accepted record's own bytes travel with it only where a later step may dead-letter it
  // (quotas): otherwise every record would carry them through the shuffle to the trainer
  private final boolean keepOriginal;
  private final List<InputSpec> inputs;
  private transient ExampleEncoder encoder;
  private transient List<RecordDecoder> decoders;
  private transient Map<DeadLetterReason, Counter> deadLetterCounters;
  private transient Counter accepted;

  /** Reads Avro {@code InstructionRecord}s from any topic. */
  public DecodeInstructions(String modelDir, int maxSeqLen) {
    this(modelDir, maxSeqLen, InputLimits.DEFAULT);
  }

  public DecodeInstructions(String modelDir, int maxSeqLen, InputLimits limits) {
    this(modelDir, maxSeqLen, limits, true);
  }

  /** With {@code keepOriginal} false, accepted items carry no copy of their record's bytes. */
  public DecodeInstructions(String modelDir, int maxSeqLen, InputLimits limits, boolean keepOriginal) {
    this(modelDir, maxSeqLen, limits, keepOriginal, List.of(InputSpec.builder().topicPattern(".*").build()));
  }

  /** Each record is read as the first of {@code inputs} that names its topic says. */
  public DecodeInstructions(String modelDir, int maxSeqLen, InputLimits limits, boolean keepOriginal,
      List<InputSpec> inputs) {
    if (inputs.isEmpty()) {
      throw new IllegalArgumentException("no inputs");
    }
    this.modelDir = modelDir;
    this.maxSeqLen = maxSeqLen;
    this.limits = limits;
    this.keepOriginal = keepOriginal;
    this.inputs = List.copyOf(inputs);
  }

  @Override
  public void open(OpenContext context) {
    prepare(SharedModels.acquire(modelPath()));
    openDecoders();
    var group = getRuntimeContext().getMetricGroup();
    accepted = group.counter("records_accepted");
    deadLetterCounters = new EnumMap<>(DeadLetterReason.class);
    for (DeadLetterReason r : DeadLetterReason.values()) {
      deadLetterCounters.put(r, group.addGroup("dlq_reason", r.name()).counter("dead_letters"));
    }
  }

  /** The tokenizer and vocabulary {@link #decode} checks against (outside Flink: in tests). */
  void prepare(SharedModels.Loaded loaded) {
    encoder = new ExampleEncoder(loaded.tokenizer(), maxSeqLen, loaded.model().config().vocabSize());
  }

  private Path modelPath() {
    return Paths.get(modelDir);
  }

  @Override
  public void close() {
    if (decoders != null) {
      decoders.forEach(RecordDecoder::close);
      decoders = null;
    }
    if (encoder != null) {
      SharedModels.release(modelPath());
      encoder = null;
    }
  }

  @Override
  public void processElement(KafkaInput in, Context ctx, Collector<TrainingItem> out) {
    try {
      TrainingItem item;
      try {
        item = decode(in);
      } catch (RuntimeException e) {
        // a record no check foresaw must not stop the job (a restart would meet it again, forever)
        throw new Rejected(DeadLetterReason.UNEXPECTED, "cannot decode: " + e);
      }
      out.collect(item);
      accepted.inc();
    } catch (Rejected r) {
      deadLetterCounters.get(r.reason()).inc();
      ctx.output(DEAD_LETTERS, deadLetter(in.value, in.key, in.topic, in.partition, in.offset, r.reason(),
          r.getMessage(), ctx.timerService().currentProcessingTime()));
    }
  }

  /** A dead letter with the record's original bytes and where it was read. */
  public static EncodedRecord deadLetter(byte[] value, byte[] key, String topic, int partition, long offset,
      DeadLetterReason reason, String message, long nowMillis) {
    DeadLetter letter = DeadLetter.newBuilder()
        .setOriginal(ByteBuffer.wrap(value == null ? new byte[0] : value))
        .setOriginalKey(key == null ? null : ByteBuffer.wrap(key))
        .setTopic(topic)
        .setPartition(partition)
        .setOffset(offset)
        .setErrorCode(reason.name())
        .setErrorMessage(message)
        .setFailedAt(Instant.ofEpochMilli(nowMillis))
        .build();
    return new EncodedRecord(key, EncodedRecord.singleObject(letter));
  }

  TrainingItem decode(KafkaInput in) throws Rejected {
    int which = inputOf(in.topic);
    InputSpec spec = inputs.get(which);
    if (in.value == null || in.value.length == 0) {
      throw new Rejected(switch (spec.format()) {
        case JSON -> DeadLetterReason.NOT_JSON;
        case AVRO_REGISTRY -> DeadLetterReason.NOT_REGISTRY_FRAMED;
        case AVRO -> DeadLetterReason.NOT_AVRO;
      }, "a record without a value (a tombstone?)");
    }
    if (in.value.length > limits.maxRecordBytes()) {
      throw new Rejected(DeadLetterReason.RECORD_TOO_LARGE, in.value.length + " bytes, over the limit of "
          + limits.maxRecordBytes());
    }
    Decoded d = decoders().get(which).decode(in);
    RecordValues values = new RecordValues(spec, d, in);
    String adapterId = values.adapterId();
    Instruction instruction = d.instruction();
    checkSize(instruction);
    float weight = values.weight();
    Example e;
    try {
      e = instruction.encode(encoder).withWeight(weight);
    } catch (InvalidExampleException x) {
      throw new Rejected(DeadLetterReason.of(x.reason()), x.getMessage());
    } catch (BonestreamException x) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD, x.getMessage());
    }
    TrainingItem item = new TrainingItem(adapterId, values.exampleId(), e.inputIds(), e.labels(), weight,
        values.eventTime(), in.topic, in.partition, in.offset);
    item.userId = values.userId();
    if (keepOriginal) {
      item.original = in.value;
      item.originalKey = in.key;
    }
    return item;
  }

  /** The index of the first input that reads {@code topic}. */
  private int inputOf(String topic) throws Rejected {
    for (int i = 0; i < inputs.size(); i++) {
      if (inputs.get(i).reads(topic)) {
        return i;
      }
    }
    throw new Rejected(DeadLetterReason.UNKNOWN_TOPIC, "no input of the job reads topic '" + topic + "'");
  }

  private List<RecordDecoder> decoders() {
    if (decoders == null) { // outside Flink (tests): opened on first use
      openDecoders();
    }
    return decoders;
  }

  private void openDecoders() {
    List<RecordDecoder> ds = new ArrayList<>();
    for (InputSpec spec : inputs) {
      RecordDecoder d = RecordDecoder.of(spec);
      d.open();
      ds.add(d);
    }
    decoders = ds;
  }

  /** The message count and text length caps, before any tokenizing. */
  private void checkSize(Instruction r) throws Rejected {
    if (r.messageCount() > limits.maxMessages()) {
      throw new Rejected(DeadLetterReason.TOO_MANY_MESSAGES, r.messageCount()
          + " messages, over the limit of " + limits.maxMessages());
    }
    long chars = r.textChars();
    if (chars > limits.maxTextChars()) {
      throw new Rejected(DeadLetterReason.TEXT_TOO_LONG, chars + " characters of text, over the limit of "
          + limits.maxTextChars());
    }
  }
}
