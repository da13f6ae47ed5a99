package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Dockerfiles against the build and the manifests: every path they copy exists after
 * {@code mvn package}, the base images are pinned, the lib folder is the cluster tests' one, and the
 * manifests use the paths, users and volumes the images declare.
 */
class DockerfilesTest {
  static final Path JOB = Repo.k8s().resolve("images/job/Dockerfile");
  static final Path SERVE = Repo.k8s().resolve("images/serve/Dockerfile");

  static List<Path> dockerfiles() throws IOException {
    try (Stream<Path> s = Files.walk(Repo.k8s().resolve("images"))) {
      return s.filter(p -> p.getFileName().toString().equals("Dockerfile")).sorted().toList();
    }
  }

  @Test
  void thereAreTheTwoDockerfiles() throws IOException {
    assertEquals(List.of(JOB, SERVE), dockerfiles());
    assertEquals(Set.of("job", "demo", "gpu"), Dockerfile.read(JOB).stages.keySet());
  }

  @Test
  void everyPathTheDockerfilesCopyExistsAfterTheBuild() throws IOException {
    List<String> problems = new ArrayList<>();
    for (Path f : dockerfiles()) {
      problems.addAll(copyProblems(Dockerfile.read(f)));
    }
    assertEquals(List.of(), problems, "run `mvn -B package -pl k8s -am -DskipTests` first (k8s/README.md)");
  }

  @Test
  void aCopyOfAMissingPathIsCaught() {
    Dockerfile d = new Dockerfile(Path.of("Dockerfile"), """
        FROM flink:2.2.1-scala_2.12-java17
        ARG BONESTREAM_VERSION=9.9.9
        COPY job/target/bonestream-job-${BONESTREAM_VERSION}-flink.jar /opt/flink/usrlib/
        COPY models/stories260K/ \\
             /opt/bonestream/models/stories260K/
        """);
    List<String> problems = copyProblems(d);
    assertEquals(1, problems.size(), problems.toString());
    assertTrue(problems.get(0).contains("bonestream-job-9.9.9-flink.jar"), problems.toString());
  }

  @Test
  void baseImagesArePinnedAndFlinksIsTheProjectsFlink() throws IOException {
    List<String> external = new ArrayList<>();
    for (Path f : dockerfiles()) {
      Dockerfile d = Dockerfile.read(f);
      for (String image : d.stages.values()) {
        if (d.stages.containsKey(image)) {
          continue; // a stage of the same file
        }
        external.add(image);
        assertTrue(image.matches("[a-z0-9./_-]+:[0-9][A-Za-z0-9._-]*"), f + ": " + image + " has no version tag");
      }
    }
    assertEquals(List.of("flink:" + Repo.flinkVersion() + "-scala_2.12-java17",
        "nvidia/cuda:13.0.2-runtime-ubuntu24.04", "eclipse-temurin:17-jre-noble"), external);
  }

  @Test
  void theVersionArgumentIsTheProjectsVersion() throws IOException {
    for (Path f : dockerfiles()) {
      assertEquals(Repo.version(), Dockerfile.read(f).arg("BONESTREAM_VERSION"), f.toString());
    }
  }

  /**
   * The job image's lib is the non-Flink part of job/flink-lib (the lib folder the cluster tests run on:
   * same jars, same versions), and holds the gpu bundle's JavaCPP and CUDA presets.
   */
  @Test
  void theImageLibIsTheClusterTestsLibWithoutFlink() throws IOException {
    Set<String> image = jars(Repo.path("k8s/target/image-lib"));
    Set<String> cluster = jars(Repo.path("job/flink-lib/target/lib"));
    Set<String> notInCluster = new TreeSet<>(image);
    notInCluster.removeAll(cluster);
    assertEquals(Set.of(), notInCluster, "jars of the image that the cluster tests do not run with");
    for (String j : image) {
      assertFalse(j.startsWith("flink-") || j.startsWith("log4j-") || j.startsWith("slf4j-"),
          j + ": the official Flink image has it");
    }
    Set<String> gpuBundle = new TreeSet<>();
    for (String j : jars(Repo.path("cuda/target/gpu-lib"))) {
      if (j.startsWith("javacpp-") || j.startsWith("cuda-")) {
        gpuBundle.add(j);
      }
    }
    assertEquals(4, gpuBundle.size(), "the gpu bundle's JavaCPP and CUDA jars: " + gpuBundle);
    assertTrue(image.containsAll(gpuBundle), "the image lacks gpu bundle jars: " + gpuBundle);
    for (String needed : List.of("nd4j-native-.*-linux-x86_64-avx2\\.jar", "openblas-.*-linux-x86_64\\.jar",
        "tokenizers-.*\\.jar", "jna-\\d.*\\.jar")) {
      assertTrue(image.stream().anyMatch(j -> j.matches(needed)), "no " + needed + " in " + image);
    }
    // what the cluster has beyond the image is Flink's, which the official image brings
    Set<String> flinkOnly = new TreeSet<>(cluster);
    flinkOnly.removeAll(image);
    assertTrue(flinkOnly.stream().noneMatch(j -> j.startsWith("nd4j") || j.startsWith("javacpp")
        || j.startsWith("tokenizers") || j.startsWith("openblas")), flinkOnly.toString());
  }

  /** The FlinkDeployment runs the jar where the image puts it, as the user the image runs as. */
  @Test
  void theFlinkDeploymentUsesTheJobImagesPathsAndUser() {
    Dockerfile d = Dockerfile.read(JOB);
    String jarDest = d.copies().stream().filter(c -> c.sources().get(0).endsWith("-flink.jar")).findFirst()
        .orElseThrow().destination();
    for (String overlay : Kustomize.OVERLAYS) {
      Rendered r = Rendered.of(overlay);
      assertEquals("local://" + jarDest, r.flink().at("/spec/job/jarURI").asText());
      // the official image's user flink is 9999; the gpu stage creates the same
      assertEquals(9999, r.flink().at("/spec/podTemplate/spec/securityContext/runAsUser").asInt());
    }
    assertTrue(d.instructions.stream().anyMatch(i -> i.stage().equals("gpu") && i.keyword().equals("RUN")
        && i.args().contains("--uid=9999")), "the gpu stage does not create user 9999");
    assertEquals("flink", d.last("USER", "gpu"));
    assertEquals("[\"/docker-entrypoint.sh\"]", d.last("ENTRYPOINT", "gpu"));
  }

  /**
   * serve's image writes only to its VOLUMEs (java.io.tmpdir, JavaCPP's cache, DJL's cache), and the
   * Deployment mounts an emptyDir at each, runs the image's user on a read-only root file system, and
   * exposes the image's port.
   */
  @Test
  void theServeDeploymentFitsTheServeImage() {
    Dockerfile d = Dockerfile.read(SERVE);
    String stage = "0";
    List<String> volumes = Dockerfile.jsonWords(d.last("VOLUME", stage));
    List<String> entrypoint = Dockerfile.jsonWords(d.last("ENTRYPOINT", stage));
    List<String> writes = new ArrayList<>();
    for (String w : entrypoint) {
      Matcher m = Pattern.compile("-D(java\\.io\\.tmpdir|jna\\.tmpdir|org\\.bytedeco\\.javacpp\\.cachedir)=(.+)").matcher(w);
      if (m.matches()) {
        writes.add(m.group(2));
      }
    }
    assertEquals(3, writes.size(), "tmpdir, jna.tmpdir and the JavaCPP cache dir in " + entrypoint);
    writes.add(d.env(stage).get("DJL_CACHE_DIR"));
    for (String w : writes) {
      assertTrue(volumes.stream().anyMatch(v -> w.equals(v) || w.startsWith(v + "/")), w + " is on no VOLUME " + volumes);
    }
    String user = d.last("USER", stage);
    assertTrue(user.matches("\\d+:\\d+") && !user.startsWith("0:"), "USER must be a numeric non-root uid:gid: " + user);

    for (String overlay : Kustomize.OVERLAYS) {
      Rendered r = Rendered.of(overlay);
      Rendered.Pod pod = r.serve();
      JsonNode sc = pod.container().path("securityContext");
      assertTrue(sc.path("readOnlyRootFilesystem").asBoolean(), "readOnlyRootFilesystem");
      assertFalse(sc.path("allowPrivilegeEscalation").asBoolean(true), "allowPrivilegeEscalation");
      JsonNode podSc = r.serveDeployment().at("/spec/template/spec/securityContext");
      assertTrue(podSc.path("runAsNonRoot").asBoolean());
      assertEquals(user, podSc.path("runAsUser").asText() + ":" + podSc.path("runAsGroup").asText());
      for (String v : volumes) {
        Optional<Rendered.Pod.Resolved> res = pod.resolve(v);
        assertTrue(res.isPresent() && res.get().key().isEmpty() && res.get().volume().has("emptyDir"),
            overlay + ": the image's VOLUME " + v + " is no emptyDir mount of " + pod.what);
      }
      String exposed = d.last("EXPOSE", stage);
      assertTrue(pod.port(Yaml.MAPPER.getNodeFactory().numberNode(Integer.parseInt(exposed))).isPresent(),
          "the image exposes " + exposed);
      assertEquals("serve", pod.container().path("args").path(0).asText(), "the entry point runs bonestream: serve");
    }
    assertEquals(List.of("io.bonestream.cli.BonestreamCli"), entrypoint.subList(entrypoint.size() - 1, entrypoint.size()));
  }

  /** Problems of a Dockerfile's COPY sources (build context: the repository root). */
  static List<String> copyProblems(Dockerfile d) {
    List<String> problems = new ArrayList<>();
    for (Dockerfile.Copy c : d.copies()) {
      if (c.from() != null) {
        if (!d.stages.containsKey(c.from())) {
          problems.add(d.file + ":" + c.line() + ": COPY --from=" + c.from() + " names no stage");
        }
        continue;
      }
      for (String src : c.sources()) {
        if (src.contains("$")) {
          problems.add(d.file + ":" + c.line() + ": " + src + " has an argument without a default");
          continue;
        }
        Path p = Repo.root().resolve(src).normalize();
        if (!p.startsWith(Repo.root())) {
          problems.add(d.file + ":" + c.line() + ": " + src + " is outside the build context");
        } else if (!Files.exists(p)) {
          problems.add(d.file + ":" + c.line() + ": " + src + " does not exist (after mvn -B package -pl k8s -am)");
        } else if (Files.isDirectory(p) && isEmpty(p)) {
          problems.add(d.file + ":" + c.line() + ": " + src + " is an empty folder");
        }
      }
    }
    return problems;
  }

  private static boolean isEmpty(Path dir) {
    try (Stream<Path> s = Files.list(dir)) {
      return s.findAny().isEmpty();
    } catch (IOException e) {
      return true;
    }
  }

  static Set<String> jars(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new AssertionError(dir + " does not exist: run `mvn -B package -pl k8s -am -DskipTests` first");
    }
    try (Stream<Path> s = Files.list(dir)) {
      Set<String> out = new TreeSet<>();
      s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".jar")).forEach(out::add);
      return out;
    }
  }

}
