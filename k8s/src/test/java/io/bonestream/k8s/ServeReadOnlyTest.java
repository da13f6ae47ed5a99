package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.schemas.SigningKeys;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The serve image's command, run here as its ENTRYPOINT says, on a file system where only its volumes can
 * be written: the volumes' paths map to temporary folders, and the home folder and the working folder are
 * under /proc, where nothing can be created (not even by root). {@code bonestream serve} must load the
 * model and its native libraries (ND4J through JavaCPP, DJL's tokenizer) and answer /healthz, its log on the
 * console (the working folder could hold no log file).
 */
class ServeReadOnlyTest {
  static final Path UNWRITABLE = Path.of("/proc/bonestream-no-home");

  @TempDir
  Path volumes;

  @Test
  void serveRunsWithWritesOnlyInTheImagesVolumes() throws Exception {
    Dockerfile d = Dockerfile.read(DockerfilesTest.SERVE);
    List<String> entrypoint = Dockerfile.jsonWords(d.last("ENTRYPOINT", "0"));
    List<String> imageVolumes = Dockerfile.jsonWords(d.last("VOLUME", "0"));
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    for (String w : entrypoint.subList(1, entrypoint.size())) {
      if (w.equals("-cp")) {
        break;
      }
      command.add(here(w, imageVolumes));
    }
    command.add("-Duser.home=" + UNWRITABLE);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(entrypoint.get(entrypoint.size() - 1));
    // serve needs a public key to trust (the manifests mount the job's from a Secret)
    SigningKeys.write(SigningKeys.generate(), volumes.resolve("secrets"), "signing");
    command.addAll(List.of("serve", "--model", Repo.path("models/stories260K").toString(),
        "--bootstrap", "127.0.0.1:9", "--port", String.valueOf(port),
        "--public-key", volumes.resolve("secrets/signing.pub").toString()));
    ProcessBuilder pb = new ProcessBuilder(command).directory(Path.of("/proc").toFile()).redirectErrorStream(true)
        .redirectOutput(volumes.resolve("serve.log").toFile());
    Map<String, String> env = pb.environment();
    env.put("HOME", UNWRITABLE.toString());
    env.remove("XDG_CACHE_HOME");
    d.env("0").forEach((k, v) -> env.put(k, here(v, imageVolumes)));
    Process p = pb.start();
    try {
      int status = -1;
      String log = "";
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      while (System.nanoTime() < deadline && p.isAlive() && status != 200) {
        Thread.sleep(500);
        status = get("http://127.0.0.1:" + port + "/healthz");
      }
      log = Files.readString(volumes.resolve("serve.log"), StandardCharsets.UTF_8);
      // the model, ND4J's natives and the tokenizer load before the HTTP server starts; the subscriber
      // (no broker here) comes after
      assertEquals(200, status, "serve did not answer /healthz; its output:\n" + log);
      // the image's BONESTREAM_LOG_FILE=-: no log file in the container, the whole log on its console
      assertTrue(log.contains("log: on this console"), log);
    } finally {
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    // the native libraries went to the volume: JavaCPP's (ND4J, OpenBLAS) and DJL's (the tokenizer)
    for (String cache : List.of("var/cache/bonestream/javacpp", "var/cache/bonestream/djl")) {
      try (var files = Files.walk(volumes.resolve(cache))) {
        assertTrue(files.anyMatch(f -> f.getFileName().toString().endsWith(".so")), "no native library in /" + cache);
      }
    }
  }

  /** A path of the image mapped into the temporary folder when it lies on one of the image's volumes. */
  private String here(String s, List<String> imageVolumes) {
    for (String v : imageVolumes) {
      int i = s.indexOf(v);
      if (i >= 0 && (s.length() == i + v.length() || s.charAt(i + v.length()) == '/')) {
        Path mapped = volumes.resolve(v.substring(1));
        try {
          Files.createDirectories(mapped);
        } catch (IOException e) {
          throw new AssertionError(e);
        }
        return s.substring(0, i) + mapped + s.substring(i + v.length());
      }
    }
    return s;
  }

  private static int get(String url) {
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
      c.setConnectTimeout(1000);
      c.setReadTimeout(2000);
      int code = c.getResponseCode();
      c.disconnect();
      return code;
    } catch (IOException e) {
      return -1;
    }
  }
}
