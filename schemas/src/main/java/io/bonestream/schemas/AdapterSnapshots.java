package io.bonestream.schemas;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;

/**
 * Encodes manifests with the current {@link AdapterSnapshot} schema and decodes manifests written
 * with it or with any earlier version (a compacted adapters topic keeps old ones for as long as an
 * adapter exists). Earlier versions live in {@code history/AdapterSnapshot-N.avsc}; fields added
 * since read as their defaults.
 */
public final class AdapterSnapshots {
  /** Every earlier schema version this build reads: 1 (before resumed_from) and 2 (before the continual-learning fields). */
  private static final SchemaHistory<AdapterSnapshot> HISTORY =
      new SchemaHistory<>(AdapterSnapshot.class, AdapterSnapshot.getClassSchema(), 2);
  private static final BinaryMessageDecoder<AdapterSnapshot> DECODER = HISTORY.decoder();

  private AdapterSnapshots() {}

  /** A manifest in Avro single-object encoding, from any known schema version. */
  public static AdapterSnapshot decode(byte[] bytes) throws IOException {
    return DECODER.decode(bytes);
  }

  /** The single-object encoding of a manifest with the current schema. */
  public static byte[] encode(AdapterSnapshot s) {
    try {
      ByteBuffer b = AdapterSnapshot.getEncoder().encode(s);
      byte[] out = new byte[b.remaining()];
      b.get(out);
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Schema version {@code n} of the manifest (the current one is 3). */
  public static Schema schemaVersion(int n) {
    return HISTORY.version(n);
  }
}
