package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Dockerfiles pass two linters from the npm registry: dockerfile-utils (the Dockerfile parser of
 * VS Code's Docker support: syntax, flags, arguments) and dockerfilelint (practices: apt-get flags, ports,
 * sudo, ...; rule set src/test/lint/.dockerfilelintrc). Both are pinned by src/test/lint/package-lock.json
 * and installed with {@code npm ci} into target/dockerfile-lint on first use.
 */
class DockerfileLintTest {
  static final Path LINT = Repo.k8s().resolve("src/test/lint");
  static final Path INSTALL = Repo.k8s().resolve("target/dockerfile-lint");

  @TempDir
  Path tmp;

  @BeforeAll
  static void install() throws Exception {
    if (Files.isExecutable(bin("dockerfile-utils")) && Files.isExecutable(bin("dockerfilelint"))
        && Files.readString(LINT.resolve("package-lock.json"))
            .equals(Files.readString(INSTALL.resolve("package-lock.json")))) {
      return;
    }
    Files.createDirectories(INSTALL);
    for (String f : List.of("package.json", "package-lock.json", ".dockerfilelintrc")) {
      Files.copy(LINT.resolve(f), INSTALL.resolve(f), StandardCopyOption.REPLACE_EXISTING);
    }
    Result r = run(INSTALL, List.of("npm", "ci", "--no-audit", "--no-fund"), 300);
    assertEquals(0, r.exit, "npm ci of the Dockerfile linters failed:\n" + r.output);
  }

  @Test
  void theDockerfilesPassDockerfileUtils() throws Exception {
    for (Path f : DockerfilesTest.dockerfiles()) {
      Result r = run(INSTALL, List.of(bin("dockerfile-utils").toString(), "lint", f.toString()), 60);
      assertEquals("", r.output.strip(), f + ": dockerfile-utils lint");
      assertEquals(0, r.exit, f + ": dockerfile-utils lint exit");
    }
  }

  @Test
  void theDockerfilesPassDockerfilelint() throws Exception {
    for (Path f : DockerfilesTest.dockerfiles()) {
      assertEquals(List.of(), dockerfilelint(f), f + ": dockerfilelint");
    }
  }

  @Test
  void theLintersCatchABrokenDockerfile() throws Exception {
    Path bad = tmp.resolve("Dockerfile");
    Files.writeString(bad, """
        FROM eclipse-temurin:17-jre-noble
        RUN apt-get update && apt-get install curl
        COPY --chwon=1 job/target/lib/ /opt/bonestream/lib/
        EXPOSE 80000
        ENV ONLY_A_NAME
        """);
    Result utils = run(INSTALL, List.of(bin("dockerfile-utils").toString(), "lint", bad.toString()), 60);
    assertTrue(utils.output.contains("Unknown flag: chwon") && utils.output.contains("ENV must have two arguments"),
        utils.output);
    assertTrue(utils.exit != 0, "dockerfile-utils exit " + utils.exit);
    List<String> issues = dockerfilelint(bad);
    assertTrue(issues.toString().contains("Missing parameter for `apt-get`")
        && issues.toString().contains("Invalid Port Exposed"), issues.toString());
  }

  /** dockerfilelint's findings ("line: title"), with the project's rule set. */
  static List<String> dockerfilelint(Path f) throws Exception {
    Result r = run(INSTALL, List.of(bin("dockerfilelint").toString(), "-c", INSTALL.toString(), "-o", "json",
        f.toString()), 60);
    JsonNode report = Yaml.read(r.output);
    List<String> issues = new ArrayList<>();
    for (JsonNode file : report.path("files")) {
      for (JsonNode i : file.path("issues")) {
        issues.add(i.path("line").asText() + ": " + i.path("title").asText());
      }
    }
    if (issues.isEmpty() && r.exit != 0) {
      issues.add("exit " + r.exit + ": " + r.output);
    }
    return issues;
  }

  static Path bin(String name) {
    return INSTALL.resolve("node_modules/.bin").resolve(name);
  }

  record Result(int exit, String output) {}

  static Result run(Path dir, List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
    Process p;
    try {
      p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new AssertionError(command.get(0) + " is not installed (or not on PATH): the Dockerfile lint test needs "
          + "Node.js and npm (" + e.getMessage() + ")");
    }
    p.getOutputStream().close();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
    }
    return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
  }
}
