package io.bonestream.subscriber;

import io.bonestream.core.BonestreamException;
import io.bonestream.schemas.AdapterIds;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What a subscriber accepted, kept on its own disk so that a restart neither rolls back nor
 * forgets: per adapter the manifest of the last accepted version ({@code <id>.manifest}, the
 * record as read, verified again when it is loaded) and the highest version ever accepted
 * ({@code <id>.floor}). Without it a restarted subscriber knows only what the topic still holds:
 * once compaction keeps a replayed old manifest (or a tombstone) instead of the newest, it would
 * serve the old version (or nothing).
 */
final class SubscriberState {
  /** The largest manifest kept (inline payloads included); Kafka's own record limit is far below. */
  static final long MAX_MANIFEST_BYTES = 256L << 20;

  private final Path dir;

  SubscriberState(Path dir) {
    this.dir = dir;
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new BonestreamException("cannot create the subscriber state folder " + dir + ": " + e.getMessage());
    }
    if (!Files.isWritable(dir)) {
      throw new BonestreamException("the subscriber state folder " + dir + " is not writable");
    }
  }

  Path dir() {
    return dir;
  }

  /** The floor of each adapter: versions below it are never served again. */
  Map<String, Long> floors() {
    Map<String, Long> out = new TreeMap<>();
    for (Path f : files(".floor")) {
      String id = idOf(f, ".floor");
      try {
        out.put(id, Long.parseLong(Files.readString(f, StandardCharsets.US_ASCII).strip()));
      } catch (IOException | NumberFormatException e) {
        throw new BonestreamException("the subscriber state file " + f + " is damaged (" + e.getMessage()
            + "): remove it to forget " + id + "'s floor, knowing a replayed old version could then be served");
      }
    }
    return out;
  }

  /** The kept manifests by adapter id (unverified: the subscriber verifies them as any record). */
  Map<String, byte[]> manifests() {
    Map<String, byte[]> out = new TreeMap<>();
    for (Path f : files(".manifest")) {
      try {
        if (Files.size(f) > MAX_MANIFEST_BYTES) {
          continue; // not written by this class: ignored (the floor still holds)
        }
        out.put(idOf(f, ".manifest"), Files.readAllBytes(f));
      } catch (IOException e) {
        throw new BonestreamException("cannot read the subscriber state file " + f + ": " + e.getMessage());
      }
    }
    return out;
  }

  /** Records an accepted version: its manifest, and the floor raised to it. */
  void accepted(String adapterId, long version, byte[] manifest) {
    if (!AdapterIds.isValid(adapterId)) {
      throw new IllegalArgumentException("invalid adapter id");
    }
    try {
      if (manifest.length <= MAX_MANIFEST_BYTES) {
        write(dir.resolve(adapterId + ".manifest"), manifest);
      }
      write(dir.resolve(adapterId + ".floor"), (version + "\n").getBytes(StandardCharsets.US_ASCII));
    } catch (IOException e) {
      throw new BonestreamException("cannot write the subscriber state of " + adapterId + " in " + dir + ": "
          + e.getMessage());
    }
  }

  private static void write(Path target, byte[] bytes) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    Files.write(tmp, bytes);
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private java.util.List<Path> files(String suffix) {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(suffix))
          .filter(p -> AdapterIds.isValid(idOf(p, suffix))).sorted().toList();
    } catch (IOException e) {
      throw new BonestreamException("cannot list the subscriber state folder " + dir + ": " + e.getMessage());
    }
  }

  private static String idOf(Path p, String suffix) {
    String name = p.getFileName().toString();
    return name.substring(0, name.length() - suffix.length());
  }
}
