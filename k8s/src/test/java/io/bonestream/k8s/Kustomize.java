package io.bonestream.k8s;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.opentest4j.TestAbortedException;

/** Renders a Kustomize folder with {@code kubectl kustomize} (no cluster needed). */
final class Kustomize {
  static final List<String> OVERLAYS = List.of("cpu", "gpu");
  /**
   * Test-only overlays (src/test/resources/overlays): cpu and gpu with every component of k8s/components,
   * as an operator adds them.
   */
  static final List<String> WITH_COMPONENTS = List.of("access-cpu", "access-gpu");
  private static final Map<Path, String> RENDERED = new ConcurrentHashMap<>();

  private Kustomize() {}

  /** The objects of an overlay under k8s/overlays, or of a test-only one (WITH_COMPONENTS). */
  static List<ObjectNode> overlay(String name) {
    Path dir = WITH_COMPONENTS.contains(name)
        ? Repo.k8s().resolve("src/test/resources/overlays").resolve(name)
        : Repo.k8s().resolve("overlays").resolve(name);
    return Yaml.objects(render(dir));
  }

  static String render(Path dir) {
    return RENDERED.computeIfAbsent(dir.toAbsolutePath().normalize(), Kustomize::run);
  }

  private static String run(Path dir) {
    Process p;
    try {
      p = new ProcessBuilder("kubectl", "kustomize", dir.toString()).redirectErrorStream(false).start();
    } catch (IOException e) {
      String why = "kubectl is not installed (or not on PATH): it renders the Kustomize overlays. Install "
          + "kubectl 1.27 or newer (Kustomize v5) and run again. (" + e.getMessage() + ")";
      if ("1".equals(System.getenv("BONESTREAM_REQUIRE_KUBECTL"))) {
        throw new AssertionError(why);
      }
      // like the GPU tests: skipped with the reason, visible in the report; CI sets the variable
      // wherever kubectl exists
      throw new TestAbortedException(why + " Skipped; BONESTREAM_REQUIRE_KUBECTL=1 makes this a failure.");
    }
    try {
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      byte[] err = p.getErrorStream().readAllBytes();
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("kubectl kustomize " + dir + " did not finish in 60 s");
      }
      if (p.exitValue() != 0) {
        throw new AssertionError("kubectl kustomize " + dir + " failed (exit " + p.exitValue() + "):\n"
            + new String(err, StandardCharsets.UTF_8));
      }
      return new String(out, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new AssertionError("kubectl kustomize " + dir + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }
}
