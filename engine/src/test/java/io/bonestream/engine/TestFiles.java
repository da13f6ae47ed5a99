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

  /** A folder of the engine's test resources, e.g. {@code golden}. */
  public static Path resource(String name) {
    try {
      return Paths.get(TestFiles.class.getResource("/" + name).toURI());
    } catch (Exception e) {
      throw new IllegalStateException("test resource not found: " + name, e);
    }
  }
}
