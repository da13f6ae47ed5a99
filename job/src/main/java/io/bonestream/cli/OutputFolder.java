package io.bonestream.cli;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An {@code --out} folder checked against the folders a command reads: writing a merged model into
 * the base model's folder replaced the base model's weights with the merged ones, and an adapter
 * written inside a model folder is read back as part of it.
 */
final class OutputFolder {
  private OutputFolder() {}

  /** Fails unless {@code out} is outside {@code input} (an existing folder named by {@code option}). */
  static void requireOutside(Path out, Path input, String option) {
    if (input == null || !Files.isDirectory(input)) {
      return; // the command's own check says what is wrong with it
    }
    Path o = real(out);
    Path in = real(input);
    if (o.equals(in)) {
      throw new BonestreamException("--out " + out + " is the " + option + " folder: it would be written over;"
          + " give another folder");
    }
    if (o.startsWith(in)) {
      throw new BonestreamException("--out " + out + " is inside the " + option + " folder " + input
          + ": give a folder outside it");
    }
  }

  /** The real path of {@code p}, or of its nearest existing parent with the rest appended (links resolved). */
  private static Path real(Path p) {
    Path abs = p.toAbsolutePath().normalize();
    Path existing = abs;
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null) {
      return abs;
    }
    try {
      return existing.toRealPath().resolve(existing.relativize(abs));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
