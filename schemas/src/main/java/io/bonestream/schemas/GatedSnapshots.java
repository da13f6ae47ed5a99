package io.bonestream.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;

/**
 * Decodes the gated topic's records written with the current {@link GatedSnapshot} schema or an
 * earlier one ({@code history/GatedSnapshot-N.avsc}); fields added since read as their defaults (a
 * record of schema 1 has no {@code reason}: the eval gate was the only one then).
 */
public final class GatedSnapshots {
  private static final int[] HISTORY = {1};
  private static final BinaryMessageDecoder<GatedSnapshot> DECODER = decoder();

  private GatedSnapshots() {}

  public static GatedSnapshot decode(byte[] bytes) throws IOException {
    return DECODER.decode(bytes);
  }

  /** Schema version {@code n} (the current one is {@code HISTORY.length + 1}). */
  public static Schema schemaVersion(int n) {
    if (n == HISTORY.length + 1) {
      return GatedSnapshot.getClassSchema();
    }
    try (InputStream in = GatedSnapshots.class.getResourceAsStream("history/GatedSnapshot-" + n + ".avsc")) {
      if (in == null) {
        throw new IllegalArgumentException("no GatedSnapshot schema version " + n);
      }
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static BinaryMessageDecoder<GatedSnapshot> decoder() {
    BinaryMessageDecoder<GatedSnapshot> d = new BinaryMessageDecoder<>(
        SpecificData.getForClass(GatedSnapshot.class), GatedSnapshot.getClassSchema());
    for (int n : HISTORY) {
      d.addSchema(schemaVersion(n));
    }
    return d;
  }
}
