package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.bonestream.engine.TestFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code bonestream} launcher script, copied into a scratch checkout with {@code mvn} and
 * {@code java} replaced by scripts that log when they start and end: a build only when the sources
 * are newer than it, never while another command runs from it (the rebuild would rewrite the jars
 * that command reads its classes from), and a command started during a build runs after it.
 */
@Timeout(60)
class LauncherScriptTest {
  @TempDir Path tmp;
  Path root;
  Path log;
  Path stamp;

  @BeforeEach
  void scratchCheckout() throws IOException {
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/flock")) || Files.isExecutable(Path.of("/bin/flock")),
        "no flock(1) (util-linux): the launcher builds without a lock there");
    root = tmp.resolve("checkout");
    Files.createDirectories(root.resolve("job/target"));
    Files.createDirectories(root.resolve("engine/src/main/java"));
    Path script = root.resolve("bonestream");
    Files.copy(TestFiles.models().getParent().resolve("bonestream"), script);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    log = tmp.resolve("events.log");
    Path bin = Files.createDirectories(tmp.resolve("bin"));
    // each stub logs "<what> start|end <nanos>"; java stays up for STUB_JAVA_SECONDS
    stub(bin.resolve("mvn"), "echo \"mvn start $(date +%s%N)\" >> \"$EVENTS\"; sleep 2;"
        + " echo \"mvn end $(date +%s%N)\" >> \"$EVENTS\"");
    stub(bin.resolve("java"), "echo \"java start $(date +%s%N)\" >> \"$EVENTS\"; sleep \"${STUB_JAVA_SECONDS:-0}\";"
        + " echo \"java end $(date +%s%N)\" >> \"$EVENTS\"");
    stamp = root.resolve("job/target/.built");
  }

  @Test
  void aStaleBuildIsRebuiltOnceAndAFreshOneNot() throws Exception {
    source(Instant.now());
    Process first = launch(0);
    assertEquals(0, first.waitFor());
    assertEquals(List.of("mvn start", "mvn end", "java start", "java end"), events());
    assertTrue(Files.exists(stamp), "the build's stamp");
    Process second = launch(0);
    assertEquals(0, second.waitFor());
    assertEquals(List.of("mvn start", "mvn end", "java start", "java end", "java start", "java end"), events(),
        "a build newer than the sources is not built again");
  }

  @Test
  void newerSourcesAreNotBuiltWhileAnotherCommandRunsFromTheBuild() throws Exception {
    Files.writeString(stamp, "");
    Files.setLastModifiedTime(stamp, FileTime.from(Instant.now().minusSeconds(3600)));
    source(Instant.now().minusSeconds(7200));
    Process running = launch(4);
    awaitEvents(1);
    source(Instant.now()); // e.g. a git pull while the demo runs
    Process other = launch(0);
    assertEquals(0, other.waitFor(20, TimeUnit.SECONDS) ? other.exitValue() : -1);
    String err = new String(other.getErrorStream().readAllBytes());
    assertTrue(err.contains("warning: the sources are newer than the build, but another bonestream command runs"),
        err);
    assertEquals(List.of("java start", "java start", "java end"), events(), "no build while the first runs");
    assertTrue(running.isAlive(), "the first command is still running");
    assertEquals(0, running.waitFor());
    Process after = launch(0);
    assertEquals(0, after.waitFor());
    assertEquals(List.of("mvn start", "mvn end", "java start", "java end"), events().subList(4, 8),
        "once the others have stopped, the next command builds");
  }

  @Test
  void commandsStartedTogetherOnAStaleBuildBuildOnceAndRunAfterIt() throws Exception {
    source(Instant.now());
    List<Process> all = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      all.add(launch(0));
    }
    for (Process p : all) {
      assertTrue(p.waitFor(30, TimeUnit.SECONDS), "a launcher did not end");
      assertEquals(0, p.exitValue(), new String(p.getErrorStream().readAllBytes()));
    }
    List<String> lines = Files.readAllLines(log);
    assertEquals(1, lines.stream().filter(l -> l.startsWith("mvn start")).count(), String.join("\n", lines));
    long built = lines.stream().filter(l -> l.startsWith("mvn end")).mapToLong(l -> Long.parseLong(l.split(" ")[2]))
        .findFirst().orElseThrow();
    List<Long> starts = lines.stream().filter(l -> l.startsWith("java start"))
        .map(l -> Long.parseLong(l.split(" ")[2])).toList();
    assertEquals(3, starts.size(), String.join("\n", lines));
    assertTrue(starts.stream().allMatch(t -> t > built), "a command ran before the build ended:\n" + lines);
  }

  private void stub(Path file, String body) throws IOException {
    Files.writeString(file, "#!/bin/sh\n" + body + "\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  /** A source file of the scratch checkout, last modified at {@code time}. */
  private void source(Instant time) throws IOException {
    Path java = root.resolve("engine/src/main/java/Example.java");
    Files.writeString(java, "class Example {}\n");
    Files.setLastModifiedTime(java, FileTime.from(time));
  }

  private Process launch(int javaSeconds) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(root.resolve("bonestream").toString(), "--version");
    pb.environment().put("PATH", tmp.resolve("bin") + ":/usr/bin:/bin");
    pb.environment().put("EVENTS", log.toString());
    pb.environment().put("STUB_JAVA_SECONDS", String.valueOf(javaSeconds));
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    return pb.start();
  }

  /** The events so far, without their times. */
  private List<String> events() throws IOException {
    if (!Files.exists(log)) {
      return List.of();
    }
    return Files.readAllLines(log).stream().map(l -> l.substring(0, l.lastIndexOf(' '))).toList();
  }

  private void awaitEvents(int n) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (events().size() < n) {
      assertFalse(System.nanoTime() > deadline, "no event within 20 s: " + events());
      Thread.sleep(50);
    }
  }
}
