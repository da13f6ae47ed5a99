package io.bonestream.k8s;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository and the build's versions, as Maven hands them to the tests. */
final class Repo {
  private Repo() {}

  static Path root() {
    String p = System.getProperty("bonestream.root");
    Path root = p != null ? Path.of(p) : Path.of("..");
    root = root.toAbsolutePath().normalize();
    if (!Files.isDirectory(root.resolve("k8s")) || !Files.isRegularFile(root.resolve("pom.xml"))) {
      throw new IllegalStateException("not the bonestream repository: " + root);
    }
    return root;
  }

  static Path path(String relative) {
    return root().resolve(relative);
  }

  static Path k8s() {
    return path("k8s");
  }

  /** The project's version (the images' tags, the jars' names). */
  static String version() {
    return property("bonestream.version");
  }

  /** Flink's version, e.g. 2.2.1. */
  static String flinkVersion() {
    return property("bonestream.flink.version");
  }

  private static String property(String name) {
    String v = System.getProperty(name);
    if (v == null || v.isBlank()) {
      throw new IllegalStateException("system property " + name + " is not set (run the tests through Maven)");
    }
    return v;
  }
}
