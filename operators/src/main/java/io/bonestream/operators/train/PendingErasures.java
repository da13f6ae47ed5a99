package io.bonestream.operators.train;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The erasure requests an adapter applied that no version has listed yet: keyed list state
 * {@code pending-erasures}, one encoded {@link Note} per request, appended without reading the
 * others (so a burst of requests costs each one the same, not more the more are waiting).
 *
 * <p>A version lists them in the order they were applied, as many as fit in {@link #LISTED_BYTES} of
 * its manifest (the adapters topic leaves 64 KiB beside an inline adapter: a version that listed
 * thousands of requests would be a record too large to publish, and the job could not get past it);
 * the rest wait for the next version. Past {@link #MAX_PENDING} waiting requests the trainer applies
 * no more of the adapter's requests (they go to the dead-letter topic as {@code
 * OVER_ERASURE_LIMIT}) until versions have listed some: a flood cannot grow the adapter's state
 * without end.
 */
final class PendingErasures {
  /** Requests waiting to be listed, at most, per adapter. */
  static final int MAX_PENDING = 10_000;
  /** The most bytes of a manifest the requests it lists take (Avro binary; an upper bound per request). */
  static final int LISTED_BYTES = 48 * 1024;
  private static final int FORMAT = 1;

  private PendingErasures() {}

  /** An applied erasure as a manifest lists it ("" for an id not given). */
  record Note(String exampleId, String userId, String topic, int partition, long offset,
      int removedBuffered, int removedReplay, int removedEval, boolean retrained, long discardedSteps) {}

  static byte[] encode(Note n) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeByte(FORMAT);
      write(out, n);
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Note decode(byte[] data) {
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(data));
      int format = in.readByte();
      if (format != FORMAT) {
        throw new IllegalStateException("a pending erasure of an unknown format (" + format + ")");
      }
      return read(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The fields of a note, in the order the adapter progress's format 4 also kept them. */
  static void write(DataOutputStream out, Note n) throws IOException {
    out.writeUTF(n.exampleId());
    out.writeUTF(n.userId());
    out.writeUTF(n.topic());
    out.writeInt(n.partition());
    out.writeLong(n.offset());
    out.writeInt(n.removedBuffered());
    out.writeInt(n.removedReplay());
    out.writeInt(n.removedEval());
    out.writeBoolean(n.retrained());
    out.writeLong(n.discardedSteps());
  }

  static Note read(DataInputStream in) throws IOException {
    return new Note(in.readUTF(), in.readUTF(), in.readUTF(), in.readInt(), in.readLong(), in.readInt(), in.readInt(),
        in.readInt(), in.readBoolean(), in.readLong());
  }

  /**
   * At most how many bytes the note takes in a manifest's {@code erasures} (Avro binary): its three
   * strings' UTF-8 bytes, their lengths and union tags, and the numbers at their longest varints.
   */
  static int manifestBytes(Note n) {
    return utf8(n.exampleId()) + utf8(n.userId()) + utf8(n.topic())
        + 3 * (1 + 5) // union tags and string lengths
        + 5 + 10 + 3 * 5 + 1 + 10; // partition, offset, three counts, retrained, discarded steps
  }

  /** How many of {@code notes}, from the first, one version lists: those within {@link #LISTED_BYTES}, at least one. */
  static int listable(List<Note> notes) {
    int bytes = 0;
    for (int k = 0; k < notes.size(); k++) {
      bytes += manifestBytes(notes.get(k));
      if (bytes > LISTED_BYTES && k > 0) {
        return k;
      }
    }
    return notes.size();
  }

  private static int utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8).length;
  }
}
