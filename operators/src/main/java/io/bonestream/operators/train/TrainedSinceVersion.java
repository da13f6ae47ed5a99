package io.bonestream.operators.train;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Which example ids and user ids the adapter's steps since its last published version trained on
 * (fresh examples and replays alike): what an erasure that retrains could undo. A request naming
 * none of them leaves the weights alone, since going back to the last version would drop every other
 * example's steps and remove nothing the request named; so a client that sends the same request
 * again, or a request for examples trained long ago, cannot keep an adapter at its last version.
 *
 * <p>Kept as 64-bit fingerprints (SHA-256's first 8 bytes of the id, example and user ids apart), at
 * most {@value #MAX_FINGERPRINTS}: past that, or where nothing was recorded for steps that were taken
 * (state of a build before this one), every request is taken to name a trained example. Both
 * mistakes (a colliding fingerprint, a full set) retrain where it was not needed, never the other way.
 */
final class TrainedSinceVersion {
  /** The most fingerprints kept (128 KiB); a version is due long before that at any usual batch size. */
  static final int MAX_FINGERPRINTS = 16_384;
  private static final byte FORMAT = 1;

  /** One SHA-256 per thread, not one looked up per id. */
  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  });

  private final Set<Long> fingerprints = new HashSet<>();
  private boolean unknown;

  private TrainedSinceVersion(boolean unknown) {
    this.unknown = unknown;
  }

  /** Nothing trained since the last version (or since the adapter began). */
  static TrainedSinceVersion none() {
    return new TrainedSinceVersion(false);
  }

  /** Steps were taken but not recorded: every request counts as naming them. */
  static TrainedSinceVersion unknown() {
    return new TrainedSinceVersion(true);
  }

  /**
   * The record kept in state, or, where there is none, {@link #none()} for an adapter that has taken
   * no step and {@link #unknown()} for one that has.
   */
  static TrainedSinceVersion of(byte @Nullable [] state, boolean stepsTaken) {
    if (state == null) {
      return stepsTaken ? unknown() : none();
    }
    return fromBytes(state);
  }

  /** Records one trained example's ids ("" or null: none). */
  void add(@Nullable String exampleId, @Nullable String userId) {
    if (unknown) {
      return;
    }
    if (exampleId != null && !exampleId.isEmpty()) {
      put(fingerprint('e', exampleId));
    }
    if (userId != null && !userId.isEmpty()) {
      put(fingerprint('u', userId));
    }
  }

  /** Whether a request naming this example id or this user id (one may be null) names a trained example. */
  boolean names(@Nullable String exampleId, @Nullable String userId) {
    return unknown
        || (exampleId != null && fingerprints.contains(fingerprint('e', exampleId)))
        || (userId != null && fingerprints.contains(fingerprint('u', userId)));
  }

  boolean isUnknown() {
    return unknown;
  }

  int size() {
    return fingerprints.size();
  }

  private void put(long fingerprint) {
    if (fingerprints.size() >= MAX_FINGERPRINTS && !fingerprints.contains(fingerprint)) {
      fingerprints.clear(); // full: from here every request retrains, as without a record
      unknown = true;
      return;
    }
    fingerprints.add(fingerprint);
  }

  static long fingerprint(char kind, String id) {
    MessageDigest sha = SHA256.get();
    sha.update((byte) kind);
    sha.update(id.getBytes(StandardCharsets.UTF_8));
    return ByteBuffer.wrap(sha.digest()).getLong(); // digest() resets it for the next id
  }

  byte[] toBytes() {
    ByteBuffer b = ByteBuffer.allocate(1 + 1 + 4 + 8 * fingerprints.size());
    b.put(FORMAT).put((byte) (unknown ? 1 : 0)).putInt(fingerprints.size());
    for (long f : fingerprints) {
      b.putLong(f);
    }
    return b.array();
  }

  /** Reads {@link #toBytes()} back; anything else is refused, not guessed at. */
  static TrainedSinceVersion fromBytes(byte[] data) {
    ByteBuffer b = ByteBuffer.wrap(data);
    if (data.length < 6 || b.get() != FORMAT) {
      throw new IllegalStateException("trained-since-version state of an unknown format");
    }
    byte flag = b.get();
    int n = b.getInt();
    if (flag > 1 || flag < 0 || n < 0 || n > MAX_FINGERPRINTS || data.length != 6 + 8L * n) {
      throw new IllegalStateException("trained-since-version state is damaged (" + data.length + " bytes, "
          + n + " fingerprints)");
    }
    TrainedSinceVersion t = new TrainedSinceVersion(flag == 1);
    for (int i = 0; i < n; i++) {
      t.fingerprints.add(b.getLong());
    }
    return t;
  }
}
