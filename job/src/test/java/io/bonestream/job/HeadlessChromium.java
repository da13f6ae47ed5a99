package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real headless Chromium (Debian's {@code chromium}), run as a command: it loads a page, runs
 * its scripts for a while, and prints the resulting DOM or saves a screenshot. Tests that need it
 * are skipped with a message where it is not installed, unless {@code BONESTREAM_REQUIRE_BROWSER=1}
 * (set by CI, which installs it) makes that a failure.
 */
final class HeadlessChromium {
  private final Path binary;
  private final Path profile;

  private HeadlessChromium(Path binary, Path profile) {
    this.binary = binary;
    this.profile = profile;
  }

  Path binary() {
    return binary;
  }

  /** Debian's chromedriver beside it, for tests that click (Selenium). */
  Path driver() {
    for (String candidate : List.of(String.valueOf(System.getenv("BONESTREAM_CHROMEDRIVER")),
        "/usr/bin/chromedriver")) {
      if (Files.isExecutable(Path.of(candidate))) {
        return Path.of(candidate);
      }
    }
    String why = "no chromedriver found (install Debian's chromium-driver, or set BONESTREAM_CHROMEDRIVER)";
    if ("1".equals(System.getenv("BONESTREAM_REQUIRE_BROWSER"))) {
      fail(why);
    }
    System.out.println("SKIPPED browser test: " + why);
    assumeTrue(false, why);
    return null;
  }

  /** The browser, or the test is skipped (failed under {@code BONESTREAM_REQUIRE_BROWSER=1}). */
  static HeadlessChromium require(Path scratch) throws IOException {
    for (String candidate : List.of(String.valueOf(System.getenv("BONESTREAM_CHROMIUM")), "/usr/bin/chromium",
        "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
      Path p = Path.of(candidate);
      if (Files.isExecutable(p)) {
        return new HeadlessChromium(p, Files.createDirectories(scratch.resolve("chromium-profile")));
      }
    }
    String why = "no Chromium found (install Debian's chromium, or set BONESTREAM_CHROMIUM)";
    if ("1".equals(System.getenv("BONESTREAM_REQUIRE_BROWSER"))) {
      fail(why);
    }
    System.out.println("SKIPPED browser test: " + why);
    assumeTrue(false, why);
    return null;
  }

  /** The DOM after the page's scripts ran for {@code millis} of virtual time. */
  String dumpDom(String url, int millis) throws Exception {
    return run(List.of("--virtual-time-budget=" + millis, "--dump-dom", url));
  }

  /** A PNG of the page after its scripts ran. */
  void screenshot(String url, Path png, int width, int height, int millis) throws Exception {
    Files.createDirectories(png.getParent());
    run(List.of("--virtual-time-budget=" + millis, "--window-size=" + width + "," + height,
        "--screenshot=" + png.toAbsolutePath(), url));
    if (!Files.isRegularFile(png) || Files.size(png) == 0) {
      fail("Chromium wrote no screenshot to " + png);
    }
  }

  private String run(List<String> args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--headless=new", "--no-sandbox",
        "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars",
        "--user-data-dir=" + profile));
    cmd.addAll(args);
    Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    byte[] out = p.getInputStream().readAllBytes();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("Chromium did not finish: " + cmd);
    }
    return new String(out, java.nio.charset.StandardCharsets.UTF_8);
  }
}
