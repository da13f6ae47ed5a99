package io.bonestream.schemas;

import java.io.IOException;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;

/**
 * Decodes the gated topic's records written with the current {@link GatedSnapshot} schema or an
 * earlier one ({@code history/GatedSnapshot-N.avsc}); fields added since read as their defaults (a
 * record of schema 1 has no {@code reason}: the eval gate was the only one then).
 */
public final class GatedSnapshots {
  private static final SchemaHistory<GatedSnapshot> HISTORY =
      new SchemaHistory<>(GatedSnapshot.class, GatedSnapshot.getClassSchema(), 1);
  private static final BinaryMessageDecoder<GatedSnapshot> DECODER = HISTORY.decoder();

  private GatedSnapshots() {}

  public static GatedSnapshot decode(byte[] bytes) throws IOException {
    return DECODER.decode(bytes);
  }

  /** Schema version {@code n} (the current one is 2). */
  public static Schema schemaVersion(int n) {
    return HISTORY.version(n);
  }
}
