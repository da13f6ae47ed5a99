package io.bonestream.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;

/**
 * The schema versions of a record kept on a topic: the current one (the generated class's) and the
 * earlier ones in {@code history/<Name>-<n>.avsc}, numbered from 1; a decoder reads all of them.
 */
final class SchemaHistory<T> {
  private final Class<T> type;
  private final Schema current;
  private final int earlier;

  /** {@code earlier}: how many versions came before the current one (the current is {@code earlier + 1}). */
  SchemaHistory(Class<T> type, Schema current, int earlier) {
    this.type = type;
    this.current = current;
    this.earlier = earlier;
  }

  Schema version(int n) {
    if (n == earlier + 1) {
      return current;
    }
    String file = "history/" + current.getName() + "-" + n + ".avsc";
    try (InputStream in = n < 1 || n > earlier ? null : SchemaHistory.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalArgumentException("no " + current.getName() + " schema version " + n);
      }
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  BinaryMessageDecoder<T> decoder() {
    BinaryMessageDecoder<T> d = new BinaryMessageDecoder<>(SpecificData.getForClass(type), current);
    for (int n = 1; n <= earlier; n++) {
      d.addSchema(version(n));
    }
    return d;
  }
}
