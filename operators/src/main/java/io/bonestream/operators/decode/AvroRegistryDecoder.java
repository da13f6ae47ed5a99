package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.engine.data.FieldNames;
import io.bonestream.engine.data.RecordParser;
import io.bonestream.engine.data.RecordShape;
import io.bonestream.operators.KafkaInput;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Base64;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.jspecify.annotations.Nullable;

/**
 * Avro in the Confluent wire format (magic byte 0, a 4-byte big-endian schema id, the Avro binary
 * body), each writer's schema from the input's registry ({@link SchemaRegistryClient}). A record
 * is read with its writer's own schema, turned into JSON (records and maps as objects, arrays,
 * enums as their symbol, unions as their branch, bytes and fixed as base64 or decimals as numbers,
 * {@code timestamp-*} as epoch milliseconds) and then read like a json input's record: every
 * {@link RecordShape}, the field-name mapping ({@code fields: {prompt: question}}) and the value
 * sources work unchanged. A schema no record shape can be read from is refused once per schema id
 * ({@link DeadLetterReason#INCOMPATIBLE_SCHEMA}).
 */
final class AvroRegistryDecoder implements RecordDecoder {
  private static final long serialVersionUID = 1L;
  static final int MAX_DEPTH = 64;

  private final RegistrySettings settings;
  private final RecordParser.Options options;
  private final ValueSource adapterId;
  private final @Nullable ValueSource eventTime;
  private transient @Nullable SchemaRegistryClient client;
  private transient @Nullable Map<Integer, Writer> writers;

  AvroRegistryDecoder(InputSpec spec) {
    this.settings = spec.registry();
    this.options = spec.json();
    this.adapterId = spec.adapterId();
    this.eventTime = spec.eventTime();
    if (settings == null) {
      throw new IllegalArgumentException("an avro-registry input without registry settings");
    }
  }

  /** A writer's schema, its reader, and why records of it cannot be read (null if they can). */
  private record Writer(Schema schema, GenericDatumReader<Object> reader, @Nullable String problem) {}

  @Override
  public void open() {
    client = new SchemaRegistryClient(settings);
    int size = settings.cacheSize();
    writers = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Integer, Writer> e) {
        return size() > size;
      }
    };
  }

  /** The registry client (tests: how many requests it sent). */
  SchemaRegistryClient client() {
    if (client == null) {
      open();
    }
    return client;
  }

  @Override
  public void close() {
    if (client != null) {
      client.close();
      client = null;
    }
    writers = null;
  }

  @Override
  public Decoded decode(KafkaInput in) throws Rejected {
    byte[] v = in.value;
    if (v.length < 5) {
      throw new Rejected(DeadLetterReason.NOT_REGISTRY_FRAMED, v.length
          + " bytes: shorter than the Confluent wire format's 5-byte header");
    }
    if (v[0] != 0) {
      throw new Rejected(DeadLetterReason.NOT_REGISTRY_FRAMED, String.format(
          "first byte 0x%02x is not the Confluent wire format's magic byte 0 (written without a registry serializer?)",
          v[0] & 0xff));
    }
    int id = ByteBuffer.wrap(v, 1, 4).getInt();
    Writer w = writer(id);
    Object datum;
    try {
      BinaryDecoder d = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, null);
      datum = w.reader().read(null, d);
      if (!d.isEnd()) {
        throw new Rejected(DeadLetterReason.NOT_AVRO, "bytes left over after the record of schema id " + id
            + ": corrupt, or written with another schema");
      }
    } catch (java.io.IOException | RuntimeException | StackOverflowError e) {
      // whatever corrupt bytes make Avro throw is a bad record, never a failing job
      throw new Rejected(DeadLetterReason.NOT_AVRO, "corrupt Avro payload for schema id " + id + ": "
          + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + Texts.abbreviate(e.getMessage())));
    }
    return JsonDecoder.read(toJson(datum, w.schema(), 0), options);
  }

  private Writer writer(int id) throws Rejected {
    if (writers == null) {
      open();
    }
    Writer w = writers.get(id);
    if (w == null) {
      Schema s = client.schema(id);
      w = new Writer(s, new GenericDatumReader<>(s, s, GenericData.get()), problem(s, id));
      writers.put(id, w);
    }
    if (w.problem() != null) {
      throw new Rejected(DeadLetterReason.INCOMPATIBLE_SCHEMA, w.problem());
    }
    return w;
  }

  // ---- which writers' schemas can be read ----

  /** Why no record of {@code s} could be trained on, or null. */
  @Nullable String problem(Schema s, int id) {
    String name = "schema " + s.getFullName() + " (id " + id + ")";
    if (s.getType() != Schema.Type.RECORD) {
      return name + " is a " + s.getType().getName() + ", not a record";
    }
    String has = s.getFields().stream().map(Schema.Field::name).collect(Collectors.joining(", ", "[", "]"));
    FieldNames f = options.fields();
    String mapping = f.mapping().isEmpty() ? "" : " (fields: " + f.mapping() + ")";
    List<List<String>> shapes = shapes(options.shape());
    boolean readable = false;
    for (List<String> need : shapes) {
      if (need.stream().allMatch(std -> has(s, f.name(std)))) {
        readable = true;
        break;
      }
    }
    if (!readable) {
      return name + " has fields " + has + "; the input reads records with "
          + shapes.stream().map(need -> need.stream().map(f::name).collect(Collectors.joining("+")))
              .collect(Collectors.joining(", ", options.shape() == RecordShape.AUTO ? "one of " : "", ""))
          + mapping;
    }
    List<String> missing = new ArrayList<>();
    if (adapterId instanceof ValueSource.Field a && !has(s, a.path())) {
      missing.add("adapter id (" + a + ")");
    }
    if (eventTime instanceof ValueSource.Field t && !has(s, t.path())) {
      missing.add("event time (" + t + ")");
    }
    if (!missing.isEmpty()) {
      return name + " has fields " + has + ", none for the " + String.join(" or the ", missing);
    }
    String zero = zeroByteItems(s, java.util.Collections.newSetFromMap(new IdentityHashMap<>()));
    if (zero != null) {
      return name + " has " + zero + ", whose items take no bytes: a record of it could claim billions";
    }
    return null;
  }

  /** The standard fields each shape needs, as alternatives. */
  private static List<List<String>> shapes(RecordShape shape) {
    return switch (shape) {
      case CHAT -> List.of(List.of("messages"));
      case SHAREGPT -> List.of(List.of("conversations"));
      case TOKENS -> List.of(List.of("input_ids", "labels"));
      case ALPACA -> List.of(List.of("instruction", "output"));
      case PROMPT_COMPLETION -> List.of(List.of("prompt", "completion"));
      case PROMPT_RESPONSE -> List.of(List.of("prompt", "response"));
      case TEXT -> List.of(List.of("text"));
      case AUTO -> List.of(List.of("messages"), List.of("conversations"), List.of("input_ids", "labels"),
          List.of("instruction", "output"), List.of("prompt", "completion"), List.of("prompt", "response"),
          List.of("text"));
    };
  }

  /** Whether a record of {@code s} can have a value at the dotted {@code path}. */
  static boolean has(Schema s, String path) {
    int dot = path.indexOf('.');
    String head = dot < 0 ? path : path.substring(0, dot);
    for (Schema branch : branches(s)) {
      if (branch.getType() == Schema.Type.MAP) {
        return true; // any key may be there
      }
      if (branch.getType() == Schema.Type.RECORD) {
        Schema.Field f = branch.getField(head);
        if (f != null && (dot < 0 || has(f.schema(), path.substring(dot + 1)))) {
          return true;
        }
      }
    }
    return false;
  }

  private static List<Schema> branches(Schema s) {
    return s.getType() == Schema.Type.UNION ? s.getTypes() : List.of(s);
  }

  /** An array or map whose items may be encoded in no bytes, or null. */
  private static @Nullable String zeroByteItems(Schema s, Set<Schema> seen) {
    if (!seen.add(s)) {
      return null;
    }
    switch (s.getType()) {
      case ARRAY, MAP -> {
        Schema item = s.getType() == Schema.Type.ARRAY ? s.getElementType() : s.getValueType();
        if (s.getType() == Schema.Type.ARRAY && mayTakeNoBytes(item, new java.util.HashSet<>())) {
          return "an array of " + item.getType().getName();
        }
        return zeroByteItems(item, seen);
      }
      case RECORD -> {
        for (Schema.Field f : s.getFields()) {
          String z = zeroByteItems(f.schema(), seen);
          if (z != null) {
            return z;
          }
        }
        return null;
      }
      case UNION -> {
        for (Schema b : s.getTypes()) {
          String z = zeroByteItems(b, seen);
          if (z != null) {
            return z;
          }
        }
        return null;
      }
      default -> {
        return null;
      }
    }
  }

  private static boolean mayTakeNoBytes(Schema s, Set<String> seen) {
    return switch (s.getType()) {
      case NULL -> true;
      case FIXED -> s.getFixedSize() == 0;
      case RECORD -> seen.add(s.getFullName())
          && s.getFields().stream().allMatch(f -> mayTakeNoBytes(f.schema(), seen));
      default -> false; // unions, enums, numbers, strings, arrays and maps take at least a byte
    };
  }

  // ---- Avro to JSON ----

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** {@code datum} of schema {@code s} as JSON. */
  static JsonNode toJson(@Nullable Object datum, Schema s, int depth) throws Rejected {
    if (depth > MAX_DEPTH) {
      throw new Rejected(DeadLetterReason.UNSUPPORTED_CONTENT, "a record nested deeper than " + MAX_DEPTH + " levels");
    }
    switch (s.getType()) {
      case NULL:
        return NODES.nullNode();
      case BOOLEAN:
        return NODES.booleanNode((Boolean) datum);
      case INT:
        return NODES.numberNode((Integer) datum);
      case LONG:
        return NODES.numberNode(millis((Long) datum, s.getLogicalType()));
      case FLOAT:
        return NODES.numberNode((Float) datum);
      case DOUBLE:
        return NODES.numberNode((Double) datum);
      case STRING:
      case ENUM:
        return NODES.textNode(datum.toString());
      case BYTES: {
        ByteBuffer b = ((ByteBuffer) datum).duplicate();
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        return bytes(bytes, s);
      }
      case FIXED:
        return bytes(((GenericFixed) datum).bytes(), s);
      case ARRAY: {
        ArrayNode a = NODES.arrayNode();
        for (Object e : (java.util.Collection<?>) datum) {
          a.add(toJson(e, s.getElementType(), depth + 1));
        }
        return a;
      }
      case MAP: {
        ObjectNode o = NODES.objectNode();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) datum).entrySet()) {
          o.set(e.getKey().toString(), toJson(e.getValue(), s.getValueType(), depth + 1));
        }
        return o;
      }
      case RECORD: {
        ObjectNode o = NODES.objectNode();
        IndexedRecord r = (IndexedRecord) datum;
        for (Schema.Field f : s.getFields()) {
          o.set(f.name(), toJson(r.get(f.pos()), f.schema(), depth + 1));
        }
        return o;
      }
      case UNION:
        return toJson(datum, s.getTypes().get(GenericData.get().resolveUnion(s, datum)), depth);
      default:
        throw new Rejected(DeadLetterReason.UNSUPPORTED_CONTENT, "an Avro " + s.getType().getName() + " value");
    }
  }

  /** {@code timestamp-micros} and {@code -nanos} (also local) as milliseconds; other longs as they are. */
  private static long millis(long v, @Nullable LogicalType t) {
    if (t instanceof LogicalTypes.TimestampMicros || t instanceof LogicalTypes.LocalTimestampMicros) {
      return Math.floorDiv(v, 1000L);
    }
    if (t instanceof LogicalTypes.TimestampNanos || t instanceof LogicalTypes.LocalTimestampNanos) {
      return Math.floorDiv(v, 1_000_000L);
    }
    return v;
  }

  private static JsonNode bytes(byte[] bytes, Schema s) {
    if (s.getLogicalType() instanceof LogicalTypes.Decimal d) {
      return NODES.numberNode(new BigDecimal(bytes.length == 0 ? BigInteger.ZERO : new BigInteger(bytes), d.getScale()));
    }
    return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
  }
}
