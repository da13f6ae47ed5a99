package io.bonestream.engine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Where the tests find the project's model folder and golden files. */
public final class TestFiles {
  private TestFiles() {}

  public static Path models() {
    // The project root's models/ folder, found upward from the module being tested.
    for (Path dir = Paths.get("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isDirectory(dir.resolve("models/stories260K"))) {
        return dir.resolve("models");
      }
    }
    throw new IllegalStateException("no models/stories260K above " + Paths.get("").toAbsolutePath());
  }

  public static Path stories260K() {
    return models().resolve("stories260K");
  }

  /** The reference training runs (PyTorch, float64) and their data. */
  public static Path golden() {
    return models().getParent().resolve("engine/src/test/resources/golden");
  }

  /** Chat templates and what Hugging Face transformers renders with them (golden.json). */
  public static Path chatTemplates() {
    return models().getParent().resolve("engine/src/test/resources/chat-templates");
  }
}
