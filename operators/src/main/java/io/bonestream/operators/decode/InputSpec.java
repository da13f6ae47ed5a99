package io.bonestream.operators.decode;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.data.RecordShape;
import java.io.Serializable;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.jspecify.annotations.Nullable;

/**
 * One input of the job: which topics (names or a pattern), how their records are encoded, and where
 * each record's adapter id, example id, weight and event time come from. Made by {@link #builder()}.
 */
public final class InputSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  private final List<String> topics;
  private final @Nullable String topicPattern;
  private final InputFormat format;
  private final RecordParser.Options json;
  private final ValueSource adapterId;
  private final ValueSource exampleId;
  private final ValueSource weight;
  private final ValueSource userId;
  private final @Nullable ValueSource eventTime;
  private final @Nullable RegistrySettings registry;
  private transient @Nullable Pattern compiled;

  private InputSpec(Builder b) {
    this.topics = List.copyOf(b.topics);
    this.topicPattern = b.topicPattern;
    this.format = b.format;
    this.json = b.json;
    this.adapterId = b.adapterId;
    this.exampleId = b.exampleId;
    this.weight = b.weight;
    this.userId = b.userId;
    this.eventTime = b.eventTime;
    this.registry = b.registry;
  }

  /** Today's default input: Avro {@code InstructionRecord}s on one topic. */
  public static InputSpec avro(String topic) {
    return builder().topics(List.of(topic)).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public Builder toBuilder() {
    Builder b = new Builder();
    b.topics = topics;
    b.topicPattern = topicPattern;
    b.format = format;
    b.json = json;
    b.adapterId = adapterId;
    b.exampleId = exampleId;
    b.weight = weight;
    b.userId = userId;
    b.eventTime = eventTime;
    b.registry = registry;
    return b;
  }

  /** The topic names (empty when a pattern is given). */
  public List<String> topics() {
    return topics;
  }

  /** A Java regular expression a topic's whole name must match, or null. */
  public @Nullable String topicPattern() {
    return topicPattern;
  }

  public InputFormat format() {
    return format;
  }

  /** How JSON (and a registry's Avro, read as JSON) records are read. */
  public RecordParser.Options json() {
    return json;
  }

  public ValueSource adapterId() {
    return adapterId;
  }

  public ValueSource exampleId() {
    return exampleId;
  }

  public ValueSource weight() {
    return weight;
  }

  /** Where the user id an erasure by user finds the example by comes from (default {@code field:metadata.user_id}). */
  public ValueSource userId() {
    return userId;
  }

  /** Where event time comes from; null: the record's {@code event_time} field if it has one. */
  public @Nullable ValueSource eventTime() {
    return eventTime;
  }

  public @Nullable RegistrySettings registry() {
    return registry;
  }

  /** Whether a record read from {@code topic} belongs to this input. */
  public boolean reads(String topic) {
    if (topicPattern == null) {
      return topics.contains(topic);
    }
    if (compiled == null) {
      compiled = Pattern.compile(topicPattern);
    }
    return compiled.matcher(topic).matches();
  }

  /** What this input reads, for messages: the topic names or the pattern. */
  public String describe() {
    return (topicPattern != null ? "topics matching " + topicPattern : String.join(", ", topics)) + " (" + format.id() + ")";
  }

  /** Settings; by default Avro, the adapter id from the record's {@code adapter_id} field. */
  public static final class Builder {
    private List<String> topics = List.of();
    private @Nullable String topicPattern;
    private InputFormat format = InputFormat.AVRO;
    private RecordParser.Options json = RecordParser.Options.DEFAULT;
    private ValueSource adapterId = new ValueSource.Field("adapter_id");
    private ValueSource exampleId = new ValueSource.Field("example_id");
    private ValueSource weight = new ValueSource.Field("weight");
    private ValueSource userId = new ValueSource.Field("metadata.user_id");
    private @Nullable ValueSource eventTime;
    private @Nullable RegistrySettings registry;

    private Builder() {}

    public Builder topics(List<String> v) { topics = List.copyOf(v); return this; }

    public Builder topic(String v) { return topics(List.of(v)); }

    public Builder topicPattern(@Nullable String v) { topicPattern = v; return this; }

    public Builder format(InputFormat v) { format = Objects.requireNonNull(v); return this; }

    public Builder shape(RecordShape v) { json = json.withShape(v); return this; }

    public Builder fields(FieldNames v) { json = json.withFields(v); return this; }

    public Builder json(RecordParser.Options v) { json = Objects.requireNonNull(v); return this; }

    public Builder adapterId(ValueSource v) { adapterId = Objects.requireNonNull(v); return this; }

    public Builder exampleId(ValueSource v) { exampleId = Objects.requireNonNull(v); return this; }

    public Builder weight(ValueSource v) { weight = Objects.requireNonNull(v); return this; }

    public Builder userId(ValueSource v) { userId = Objects.requireNonNull(v); return this; }

    public Builder eventTime(@Nullable ValueSource v) { eventTime = v; return this; }

    public Builder registry(@Nullable RegistrySettings v) { registry = v; return this; }

    public InputSpec build() {
      if (topics.isEmpty() == (topicPattern == null)) {
        throw new BonestreamException("an input names its topics or a topic pattern (one of the two)");
      }
      for (String t : topics) {
        if (t == null || t.isBlank()) {
          throw new BonestreamException("an input's topic name is empty");
        }
      }
      if (topicPattern != null) {
        try {
          Pattern.compile(topicPattern);
        } catch (PatternSyntaxException e) {
          throw new BonestreamException("topic pattern '" + topicPattern + "' is not a regular expression: "
              + e.getDescription());
        }
      }
      for (ValueSource s : List.of(adapterId, exampleId, weight, userId)) {
        if (s instanceof ValueSource.KafkaTimestamp) {
          throw new BonestreamException("kafka-timestamp is a source for event-time only");
        }
      }
      if (eventTime instanceof ValueSource.Constant) {
        throw new BonestreamException("event-time cannot be a constant");
      }
      if ((format == InputFormat.AVRO_REGISTRY) != (registry != null)) {
        throw new BonestreamException(format == InputFormat.AVRO_REGISTRY
            ? "format avro-registry needs registry settings (url)"
            : "registry settings are for format avro-registry only");
      }
      if (format == InputFormat.AVRO && !json.equals(RecordParser.Options.DEFAULT)) {
        throw new BonestreamException("shape, fields and message-names are for json and avro-registry inputs");
      }
      return new InputSpec(this);
    }
  }
}
