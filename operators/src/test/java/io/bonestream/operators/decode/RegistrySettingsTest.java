package io.bonestream.operators.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.io.ByteArrayOutputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Registry settings: secure by default, validated with clear errors, no secret in the job. */
class RegistrySettingsTest {
  @TempDir Path dir;

  private static String error(Runnable r) {
    return assertThrows(BonestreamException.class, r::run).getMessage();
  }

  @Test
  void plainHttpIsForLoopbackOnlyUnlessInsecureIsAllowed() {
    for (String ok : List.of("http://localhost:8081", "http://127.0.0.1:8080/apis/ccompat/v7/", "http://127.0.0.7",
        "http://[::1]:8081", "https://registry.example.com", "HTTPS://10.0.0.5:8081/apis/ccompat/v7")) {
      RegistrySettings.builder(ok).build();
    }
    for (String remote : List.of("http://registry.example.com:8081", "http://10.0.0.5:8081",
        "http://localhost.example.com", "http://127.0.0.1.nip.io")) {
      assertEquals("registry url '" + remote + "' is plain http to a host other than loopback: schemas and "
          + "credentials would cross the network unprotected; use https, or set allow-insecure: true",
          error(() -> RegistrySettings.builder(remote).build()));
      assertEquals(remote, RegistrySettings.builder(remote).allowInsecure(true).build().url());
    }
    assertEquals("http://127.0.0.1:8080/apis/ccompat/v7",
        RegistrySettings.builder("http://127.0.0.1:8080/apis/ccompat/v7/").build().url());
    assertEquals(RegistrySettings.builder("https://registry.example.com").build(),
        new RegistrySettings("https://registry.example.com"));
    assertTrue(error(() -> new RegistrySettings("http://registry.example.com")).contains("set allow-insecure: true"));
  }

  @Test
  void badUrlsAndBoundsAreErrorsNamingThem() {
    assertEquals("registry url must not hold credentials (user:password@); use registry auth",
        error(() -> RegistrySettings.builder("https://user:pw@registry.example.com").build()));
    assertEquals("registry url 'ftp://registry.example.com' must start with https:// (or http:// on loopback)",
        error(() -> RegistrySettings.builder("ftp://registry.example.com").build()));
    assertEquals("registry url 'https://r.example.com/?x=1' must not have a query or a fragment",
        error(() -> RegistrySettings.builder("https://r.example.com/?x=1").build()));
    assertEquals("registry url is empty", error(() -> RegistrySettings.builder(" ").build()));
    assertEquals("registry truststore is for https URLs; http://localhost:8081 is not one",
        error(() -> RegistrySettings.builder("http://localhost:8081").truststore("ca.pem").build()));
    assertEquals("registry timeout must be between 100ms and 5m, got 50ms",
        error(() -> RegistrySettings.builder("http://localhost").timeout(Duration.ofMillis(50)).build()));
    assertEquals("registry retries must be 0 to 10, got 11",
        error(() -> RegistrySettings.builder("http://localhost").retries(11).build()));
    assertEquals("registry cache-size must be 1 to 1000000, got 0",
        error(() -> RegistrySettings.builder("http://localhost").cacheSize(0).build()));
    assertEquals("a registry secret comes from a file or from an environment variable, one of them",
        error(() -> new RegistrySettings.Secret("f", "E")));
    assertEquals("registry auth basic: the user must be a non-empty name without ':'",
        error(() -> RegistrySettings.builder("http://localhost").basic("a:b", RegistrySettings.Secret.file("f"))));
  }

  @Test
  void theWorstCaseLookupIsEveryAttemptAndEveryPause() {
    RegistrySettings s = RegistrySettings.builder("http://localhost").timeout(Duration.ofSeconds(1)).retries(3)
        .backoff(Duration.ofMillis(200)).build();
    assertEquals(Duration.ofMillis(4000 + 200 + 400 + 800), s.worstCaseLookup());
  }

  @Test
  void theJobCarriesWhereSecretsAreNeverTheSecrets() throws Exception {
    String password = "pw-" + System.nanoTime();
    Path f = dir.resolve("password");
    Files.writeString(f, password);
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
    RegistrySettings s = RegistrySettings.builder("http://127.0.0.1:1")
        .basic("trainer", RegistrySettings.Secret.file(f.toString())).build();
    InputSpec spec = InputSpec.builder().topic("t").format(InputFormat.AVRO_REGISTRY).registry(s).build();
    RecordDecoder decoder = RecordDecoder.of(spec);
    decoder.open(); // reads the password, as a TaskManager does
    DecodeInstructions job = new DecodeInstructions("model", 64, InputLimits.DEFAULT, false, List.of(spec));
    for (Object o : List.of(s, spec, decoder, job)) {
      String bytes = new String(serialize(o), StandardCharsets.ISO_8859_1);
      assertFalse(bytes.contains(password), o.getClass().getSimpleName() + " carries the password");
      assertTrue(bytes.contains(f.toString()), o.getClass().getSimpleName() + " carries where it is");
    }
    assertEquals("registry http://127.0.0.1:1 (auth basic, user trainer, password from file " + f + ")", s.toString());
  }

  private static byte[] serialize(Object o) throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(b)) {
      out.writeObject(o);
    }
    return b.toByteArray();
  }

  private static JsonNode json(String text) throws Exception {
    return Json.MAPPER.readTree(text);
  }

  @Test
  void jobYamlsRegistrySection() throws Exception {
    RegistrySettings s = RegistrySettings.fromConfig(json("""
        {"url": "https://registry.example.com/apis/ccompat/v7",
         "auth": {"basic": {"user": "trainer", "password-file": "/etc/registry/password"}},
         "truststore": "/etc/registry/ca.p12", "truststore-password-env": "TRUST_PW",
         "timeout": "2s", "cache-size": 50, "retries": 1, "backoff": "500ms"}"""), "job.yaml: inputs[0].registry");
    assertEquals(RegistrySettings.builder("https://registry.example.com/apis/ccompat/v7")
        .basic("trainer", RegistrySettings.Secret.file("/etc/registry/password"))
        .truststore("/etc/registry/ca.p12").truststorePassword(RegistrySettings.Secret.environment("TRUST_PW"))
        .timeout(Duration.ofSeconds(2)).cacheSize(50).retries(1).backoff(Duration.ofMillis(500)).build(), s);
    assertEquals(new RegistrySettings.Auth.Bearer(RegistrySettings.Secret.environment("REGISTRY_TOKEN")),
        RegistrySettings.fromConfig(json("""
            {"url": "http://registry:8081", "allow-insecure": true, "auth": {"bearer": {"token-env": "REGISTRY_TOKEN"}}}"""),
            "r").auth());
    assertEquals("r: unknown key(s) [password] (known: allow-insecure, auth, backoff, cache-size, retries, timeout, "
        + "truststore, truststore-password-env, truststore-password-file, url)",
        error(() -> fromConfig("{\"url\": \"http://localhost\", \"password\": \"x\"}")));
    assertEquals("r.auth.basic: give password-file or password-env, one of them",
        error(() -> fromConfig("{\"url\": \"http://localhost\", \"auth\": {\"basic\": {\"user\": \"u\", "
            + "\"password-file\": \"f\", \"password-env\": \"E\"}}}")));
    assertEquals("r.auth: expected one of basic: {user, password-file | password-env} or bearer: {token-file | token-env}",
        error(() -> fromConfig("{\"url\": \"http://localhost\", \"auth\": {\"oauth\": {}}}")));
    assertEquals("r.allow-insecure: expected true or false",
        error(() -> fromConfig("{\"url\": \"http://localhost\", \"allow-insecure\": \"yes\"}")));
    assertEquals("r.timeout: 'soon' is not a duration (e.g. 500ms, 30s, 5m, 2h)",
        error(() -> fromConfig("{\"url\": \"http://localhost\", \"timeout\": \"soon\"}")));
    assertEquals("r.url is missing", error(() -> fromConfig("{}")));
    assertTrue(error(() -> fromConfig("{\"url\": \"http://registry:8081\"}")).startsWith(
        "r: registry url 'http://registry:8081' is plain http to a host other than loopback"));
  }

  private static void fromConfig(String text) {
    try {
      RegistrySettings.fromConfig(json(text), "r");
    } catch (BonestreamException e) {
      throw e;
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
