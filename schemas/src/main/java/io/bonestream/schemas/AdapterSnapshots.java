package io.bonestream.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;

/**
 * Encodes manifests with the current {@link AdapterSnapshot} schema and decodes manifests written
 * with it or with any earlier version (a compacted adapters topic keeps old ones for as long as an
 * adapter exists). Earlier versions live in {@code history/AdapterSnapshot-N.avsc}; fields added
 * since read as their defaults.
 */
public final class AdapterSnapshots {
  /** Every earlier schema version this build reads. */
  private static final int[] HISTORY = {1, 2};
  private static final BinaryMessageDecoder<AdapterSnapshot> DECODER = decoder();

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

  /** Schema version {@code n} of the manifest (the current one is {@code HISTORY.length + 1}). */
  public static Schema schemaVersion(int n) {
    if (n == HISTORY.length + 1) {
      return AdapterSnapshot.getClassSchema();
    }
    try (InputStream in = AdapterSnapshots.class.getResourceAsStream("history/AdapterSnapshot-" + n + ".avsc")) {
      if (in == null) {
        throw new IllegalArgumentException("no AdapterSnapshot schema version " + n);
      }
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static BinaryMessageDecoder<AdapterSnapshot> decoder() {
    BinaryMessageDecoder<AdapterSnapshot> d = new BinaryMessageDecoder<>(
        SpecificData.getForClass(AdapterSnapshot.class), AdapterSnapshot.getClassSchema());
    for (int n : HISTORY) {
      d.addSchema(schemaVersion(n));
    }
    return d;
  }
}
