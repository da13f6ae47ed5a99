package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.InvalidExampleException;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.operators.EncodedRecord;
import io.bonestream.operators.KafkaInput;
import io.bonestream.operators.TrainingItem;
import io.bonestream.operators.train.SharedModels;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.InstructionRecord;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.MissingSchemaException;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Decodes instruction records (Avro single-object encoding), validates and tokenizes them. Every
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
  private transient ExampleEncoder encoder;
  private transient Map<DeadLetterReason, Counter> deadLetterCounters;
  private transient Counter accepted;

  public DecodeInstructions(String modelDir, int maxSeqLen) {
    this(modelDir, maxSeqLen, InputLimits.DEFAULT);
  }

  public DecodeInstructions(String modelDir, int maxSeqLen, InputLimits limits) {
    this(modelDir, maxSeqLen, limits, true);
  }

  /** With {@code keepOriginal} false, accepted items carry no copy of their record's bytes. */
  public DecodeInstructions(String modelDir, int maxSeqLen, InputLimits limits, boolean keepOriginal) {
    this.modelDir = modelDir;
    this.maxSeqLen = maxSeqLen;
    this.limits = limits;
    this.keepOriginal = keepOriginal;
  }

  @Override
  public void open(OpenContext context) {
    prepare(SharedModels.acquire(modelPath()));
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
      deadLetterCounters.get(r.reason).inc();
      ctx.output(DEAD_LETTERS, deadLetter(in.value, in.key, in.topic, in.partition, in.offset, r.reason,
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

  /** A record that cannot be trained on. */
  static final class Rejected extends Exception {
    final DeadLetterReason reason;

    Rejected(DeadLetterReason reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }

  TrainingItem decode(KafkaInput in) throws Rejected {
    if (in.value == null) {
      throw new Rejected(DeadLetterReason.NOT_AVRO, "a record without a value (a tombstone?)");
    }
    if (in.value.length > limits.maxRecordBytes()) {
      throw new Rejected(DeadLetterReason.RECORD_TOO_LARGE, in.value.length + " bytes, over the limit of "
          + limits.maxRecordBytes());
    }
    InstructionRecord r;
    try {
      r = InstructionRecord.getDecoder().decode(in.value);
    } catch (MissingSchemaException e) {
      throw new Rejected(DeadLetterReason.UNKNOWN_SCHEMA, "unknown Avro schema fingerprint: " + e.getMessage());
    } catch (BadHeaderException e) {
      throw new Rejected(DeadLetterReason.NOT_AVRO, "not Avro single-object encoded: " + e.getMessage());
    } catch (java.io.IOException | RuntimeException e) {
      // whatever corrupt bytes make Avro throw (found by DecodeFuzzTest: UnsupportedOperationException
      // for absurd length prefixes, among others) is a bad record, never a failing job
      throw new Rejected(DeadLetterReason.NOT_AVRO, "corrupt Avro payload: " + e.getClass().getSimpleName()
          + (e.getMessage() == null ? "" : ": " + abbreviate(e.getMessage())));
    }
    if (!AdapterIds.isValid(r.getAdapterId())) {
      throw new Rejected(DeadLetterReason.INVALID_ADAPTER_ID, "adapter_id '" + abbreviate(r.getAdapterId())
          + "' is not 1-128 characters of [A-Za-z0-9._-] (nor . or ..)");
    }
    checkSize(r);
    float weight = r.getWeight() == null ? 1f : r.getWeight();
    if (!(weight > 0) || !Float.isFinite(weight)) {
      throw new Rejected(DeadLetterReason.INVALID_WEIGHT, "weight must be a positive number, got " + weight);
    }
    Example e;
    try {
      e = encode(r).withWeight(weight);
    } catch (InvalidExampleException x) {
      throw new Rejected(DeadLetterReason.of(x.reason()), x.getMessage());
    } catch (BonestreamException x) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD, x.getMessage());
    }
    long eventTime = r.getEventTime() == null ? Long.MIN_VALUE : r.getEventTime().toEpochMilli();
    TrainingItem item = new TrainingItem(r.getAdapterId(), r.getExampleId(), e.inputIds(), e.labels(), weight,
        eventTime, in.topic, in.partition, in.offset);
    if (keepOriginal) {
      item.original = in.value;
      item.originalKey = in.key;
    }
    return item;
  }

  /** The message count and text length caps, before any tokenizing. */
  private void checkSize(InstructionRecord r) throws Rejected {
    long chars = length(r.getSystem()) + length(r.getPrompt()) + length(r.getResponse());
    if (r.getMessages() != null) {
      if (r.getMessages().size() > limits.maxMessages()) {
        throw new Rejected(DeadLetterReason.TOO_MANY_MESSAGES, r.getMessages().size()
            + " messages, over the limit of " + limits.maxMessages());
      }
      for (var m : r.getMessages()) {
        chars += length(m.getContent());
      }
    }
    if (chars > limits.maxTextChars()) {
      throw new Rejected(DeadLetterReason.TEXT_TOO_LONG, chars + " characters of text, over the limit of "
          + limits.maxTextChars());
    }
  }

  private static long length(CharSequence s) {
    return s == null ? 0 : s.length();
  }

  private Example encode(InstructionRecord r) throws Rejected {
    boolean text = r.getPrompt() != null || r.getResponse() != null;
    boolean chat = r.getMessages() != null;
    boolean tokens = r.getInputIds() != null || r.getLabels() != null;
    if ((text ? 1 : 0) + (chat ? 1 : 0) + (tokens ? 1 : 0) != 1) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD,
          "a record needs exactly one of prompt+response, messages, or input_ids+labels");
    }
    if (text) {
      if (r.getPrompt() == null || r.getResponse() == null) {
        throw new Rejected(DeadLetterReason.MISSING_FIELD, "missing field '"
            + (r.getPrompt() == null ? "prompt" : "response") + "'");
      }
      return encoder.promptResponse(r.getSystem(), r.getPrompt(), r.getResponse());
    }
    if (chat) {
      List<ChatMessage> messages = new ArrayList<>();
      for (var m : r.getMessages()) {
        if (!ChatMessage.ROLES.contains(m.getRole())) {
          throw new Rejected(DeadLetterReason.UNKNOWN_ROLE, "unknown role '" + abbreviate(m.getRole())
              + "' (known: system, user, assistant)");
        }
        messages.add(new ChatMessage(m.getRole(), m.getContent()));
      }
      return encoder.chat(messages);
    }
    if (r.getInputIds() == null || r.getLabels() == null) {
      throw new Rejected(DeadLetterReason.MISSING_FIELD, "missing field '"
          + (r.getInputIds() == null ? "input_ids" : "labels") + "'");
    }
    return encoder.tokens(r.getInputIds().stream().mapToInt(Integer::intValue).toArray(),
        r.getLabels().stream().mapToInt(Integer::intValue).toArray());
  }

  private static String abbreviate(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }
}
