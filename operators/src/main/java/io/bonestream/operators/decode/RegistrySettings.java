package io.bonestream.operators.decode;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Where an {@code avro-registry} input finds its writers' schemas: the root of a registry's
 * Confluent-compatible REST API (Confluent Schema Registry, Karapace: {@code http://host:8081};
 * Apicurio Registry: {@code http://host:8080/apis/ccompat/v7}), its credentials, TLS trust and
 * the client's bounds. Travels with the job: only the <em>locations</em> of a password or token
 * (a file or an environment variable) are kept here; the secrets themselves are read on the
 * TaskManagers when the decoder opens ({@link Secret#load()}) and never logged.
 *
 * <p>Secure by default: plain {@code http://} is refused for any host but loopback unless
 * {@code allowInsecure} is set; credentials may not be written into the URL.
 */
public final class RegistrySettings implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(5);
  public static final int DEFAULT_CACHE_SIZE = 1000;
  public static final int DEFAULT_RETRIES = 3;
  public static final Duration DEFAULT_BACKOFF = Duration.ofMillis(200);

  private final String url;
  private final Auth auth;
  private final @Nullable String truststore;
  private final @Nullable Secret truststorePassword;
  private final boolean allowInsecure;
  private final Duration timeout;
  private final int cacheSize;
  private final int retries;
  private final Duration backoff;

  private RegistrySettings(Builder b, String url) {
    this.url = url;
    this.auth = b.auth;
    this.truststore = b.truststore;
    this.truststorePassword = b.truststorePassword;
    this.allowInsecure = b.allowInsecure;
    this.timeout = b.timeout;
    this.cacheSize = b.cacheSize;
    this.retries = b.retries;
    this.backoff = b.backoff;
  }

  /** The registry at {@code url}, every other setting its default: {@code builder(url).build()}. */
  public RegistrySettings(String url) {
    this(new Builder(url), checkUrl(url, false));
  }

  public static Builder builder(String url) {
    return new Builder(url);
  }

  /** The Confluent-compatible API root, without a trailing slash. */
  public String url() {
    return url;
  }

  public Auth auth() {
    return auth;
  }

  /** A truststore for https: PEM certificates or a PKCS12 file; null: the JVM's default trust. */
  public @Nullable String truststore() {
    return truststore;
  }

  /** The PKCS12 truststore's password, if it has one. */
  public @Nullable Secret truststorePassword() {
    return truststorePassword;
  }

  public boolean allowInsecure() {
    return allowInsecure;
  }

  /** The bound of one request to the registry, from connecting to the last byte of the answer. */
  public Duration timeout() {
    return timeout;
  }

  /** How many schemas (by id) are kept. */
  public int cacheSize() {
    return cacheSize;
  }

  /** Further attempts after a transient failure (connection refused, 5xx, 429, timeout). */
  public int retries() {
    return retries;
  }

  /** The pause before the first retry; doubled before each next one. */
  public Duration backoff() {
    return backoff;
  }

  /**
   * The longest one lookup may take before its record is dead-lettered: every attempt at its
   * timeout, and the pauses between them.
   */
  public Duration worstCaseLookup() {
    Duration d = timeout.multipliedBy(retries + 1L);
    for (int i = 0; i < retries; i++) {
      d = d.plus(pause(i));
    }
    return d;
  }

  /** The pause before retry {@code i} (0-based): the backoff, doubled each time, at most 5 s. */
  Duration pause(int i) {
    long ms = backoff.toMillis() << Math.min(i, 16);
    return Duration.ofMillis(Math.min(ms, 5000));
  }

  /** No secrets, only where they are read from. */
  @Override
  public String toString() {
    return "registry " + url + " (auth " + auth + (truststore != null ? ", truststore " + truststore : "")
        + (allowInsecure ? ", insecure allowed" : "") + ")";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof RegistrySettings r && r.url.equals(url) && r.auth.equals(auth)
        && Objects.equals(r.truststore, truststore) && Objects.equals(r.truststorePassword, truststorePassword)
        && r.allowInsecure == allowInsecure && r.timeout.equals(timeout) && r.cacheSize == cacheSize
        && r.retries == retries && r.backoff.equals(backoff);
  }

  @Override
  public int hashCode() {
    return Objects.hash(url, auth, truststore, truststorePassword, allowInsecure, timeout, cacheSize, retries, backoff);
  }

  /** How the job authenticates to the registry. */
  public sealed interface Auth extends Serializable {
    /** No credentials. */
    record None() implements Auth {
      @Override
      public String toString() {
        return "none";
      }
    }

    /** HTTP basic: a user name and a password read from {@code password}. */
    record Basic(String user, Secret password) implements Auth {
      public Basic {
        if (user == null || user.isEmpty() || user.contains(":")) {
          throw new BonestreamException("registry auth basic: the user must be a non-empty name without ':'");
        }
        Objects.requireNonNull(password);
      }

      @Override
      public String toString() {
        return "basic, user " + user + ", password from " + password;
      }
    }

    /** {@code Authorization: Bearer} with a token read from {@code token}. */
    record Bearer(Secret token) implements Auth {
      public Bearer {
        Objects.requireNonNull(token);
      }

      @Override
      public String toString() {
        return "bearer, token from " + token;
      }
    }
  }

  /**
   * Where a secret is read: a file (a mounted Kubernetes Secret; others may neither read nor write
   * it) or an environment variable. Only the location is serialized.
   */
  public record Secret(@Nullable String file, @Nullable String environmentVariable) implements Serializable {
    public Secret {
      if ((file == null) == (environmentVariable == null)) {
        throw new BonestreamException("a registry secret comes from a file or from an environment variable, one of them");
      }
      if ((file != null && file.isBlank()) || (environmentVariable != null && environmentVariable.isBlank())) {
        throw new BonestreamException("a registry secret's file or environment variable name is empty");
      }
    }

    public static Secret file(String path) {
      return new Secret(path, null);
    }

    public static Secret environment(String variable) {
      return new Secret(null, variable);
    }

    /**
     * Reads the secret (one line: surrounding whitespace and a final newline dropped). Every failure
     * names the location, never the secret; a file others can read or write is refused.
     */
    public String load() {
      String text;
      if (file != null) {
        Path p = Path.of(file);
        try {
          checkMode(p);
          text = Files.readString(p, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
          throw new BonestreamException("registry secret file " + file + " not found");
        } catch (IOException e) {
          throw new BonestreamException("cannot read registry secret file " + file + ": " + e.getClass().getSimpleName());
        }
      } else {
        text = System.getenv(environmentVariable);
        if (text == null) {
          throw new BonestreamException("environment variable " + environmentVariable + " (a registry secret) is not set");
        }
      }
      text = text.strip();
      if (text.isEmpty()) {
        throw new BonestreamException("registry secret from " + this + " is empty");
      }
      if (text.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
        throw new BonestreamException("registry secret from " + this + " holds control characters (one line expected)");
      }
      return text;
    }

    private void checkMode(Path p) throws IOException {
      try {
        io.bonestream.schemas.SigningKeys.checkSecretFileMode(p, "registry secret file");
      } catch (IllegalArgumentException e) {
        throw new BonestreamException(e.getMessage());
      }
    }

    @Override
    public String toString() {
      return file != null ? "file " + file : "environment variable " + environmentVariable;
    }
  }

  /** Settings, validated by {@link #build()}. */
  public static final class Builder {
    private final String url;
    private Auth auth = new Auth.None();
    private @Nullable String truststore;
    private @Nullable Secret truststorePassword;
    private boolean allowInsecure;
    private Duration timeout = DEFAULT_TIMEOUT;
    private int cacheSize = DEFAULT_CACHE_SIZE;
    private int retries = DEFAULT_RETRIES;
    private Duration backoff = DEFAULT_BACKOFF;

    private Builder(String url) {
      this.url = url;
    }

    public Builder auth(Auth v) { auth = Objects.requireNonNull(v); return this; }

    public Builder basic(String user, Secret password) { return auth(new Auth.Basic(user, password)); }

    public Builder bearer(Secret token) { return auth(new Auth.Bearer(token)); }

    public Builder truststore(@Nullable String v) { truststore = v; return this; }

    public Builder truststorePassword(@Nullable Secret v) { truststorePassword = v; return this; }

    public Builder allowInsecure(boolean v) { allowInsecure = v; return this; }

    public Builder timeout(Duration v) { timeout = Objects.requireNonNull(v); return this; }

    public Builder cacheSize(int v) { cacheSize = v; return this; }

    public Builder retries(int v) { retries = v; return this; }

    public Builder backoff(Duration v) { backoff = Objects.requireNonNull(v); return this; }

    public RegistrySettings build() {
      String u = checkUrl(url, allowInsecure);
      if (truststore != null) {
        if (truststore.isBlank()) {
          throw new BonestreamException("registry truststore: the file name is empty");
        }
        if (!u.startsWith("https://")) {
          throw new BonestreamException("registry truststore is for https URLs; " + u + " is not one");
        }
      } else if (truststorePassword != null) {
        throw new BonestreamException("registry truststore password without a truststore");
      }
      if (timeout.compareTo(Duration.ofMillis(100)) < 0 || timeout.compareTo(Duration.ofMinutes(5)) > 0) {
        throw new BonestreamException("registry timeout must be between 100ms and 5m, got " + timeout.toMillis() + "ms");
      }
      if (cacheSize < 1 || cacheSize > 1_000_000) {
        throw new BonestreamException("registry cache-size must be 1 to 1000000, got " + cacheSize);
      }
      if (retries < 0 || retries > 10) {
        throw new BonestreamException("registry retries must be 0 to 10, got " + retries);
      }
      if (backoff.isNegative() || backoff.compareTo(Duration.ofMinutes(1)) > 0) {
        throw new BonestreamException("registry backoff must be between 0 and 1m, got " + backoff.toMillis() + "ms");
      }
      return new RegistrySettings(this, u);
    }
  }

  /** The URL without a trailing slash, or an error saying what is wrong with it. */
  static String checkUrl(String url, boolean allowInsecure) {
    if (url == null || url.isBlank()) {
      throw new BonestreamException("registry url is empty");
    }
    URI uri;
    try {
      uri = new URI(url.strip());
    } catch (URISyntaxException e) {
      throw new BonestreamException("registry url '" + url + "' is not a URL: " + e.getReason());
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw new BonestreamException("registry url '" + url + "' must start with https:// (or http:// on loopback)");
    }
    if (uri.getRawUserInfo() != null) {
      // the URL travels with the job and shows in its configuration: credentials go in auth
      throw new BonestreamException("registry url must not hold credentials (user:password@); use registry auth");
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      throw new BonestreamException("registry url '" + url + "' has no host");
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new BonestreamException("registry url '" + url + "' must not have a query or a fragment");
    }
    if (scheme.equals("http") && !allowInsecure && !isLoopback(uri.getHost())) {
      throw new BonestreamException("registry url '" + url + "' is plain http to a host other than loopback: "
          + "schemas and credentials would cross the network unprotected; use https, or set allow-insecure: true");
    }
    String s = uri.toString();
    while (s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    return s;
  }

  /** localhost, 127.0.0.0/8 and ::1, without asking DNS. */
  static boolean isLoopback(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    if (h.equalsIgnoreCase("localhost")) {
      return true;
    }
    boolean literal = h.contains(":") || h.matches("\\d{1,3}(\\.\\d{1,3}){3}");
    if (!literal) {
      return false;
    }
    try {
      return InetAddress.getByName(h).isLoopbackAddress(); // a literal: no lookup
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private static final Set<String> KEYS = Set.of("url", "auth", "truststore", "truststore-password-file",
      "truststore-password-env", "allow-insecure", "timeout", "cache-size", "retries", "backoff");

  /**
   * Reads job.yaml's {@code registry:} section ({@code where} names it in errors, e.g.
   * {@code "job.yaml: inputs[0].registry"}):
   *
   * <pre>
   * registry:
   *   url: https://registry.example.com/apis/ccompat/v7
   *   auth:                      # optional; one of:
   *     basic: {user: trainer, password-file: /etc/registry/password}   # or password-env: VAR
   *     bearer: {token-file: /etc/registry/token}                       # or token-env: VAR
   *   truststore: /etc/registry/ca.pem            # PEM or PKCS12, for https
   *   truststore-password-file: ...               # or truststore-password-env (PKCS12 only)
   *   allow-insecure: false      # plain http to a host other than loopback
   *   timeout: 5s                # one request
   *   cache-size: 1000           # schemas kept
   *   retries: 3                 # after a transient failure
   *   backoff: 200ms             # before the first retry, doubled after
   * </pre>
   *
   * An unknown key or an invalid value is an error naming it.
   */
  public static RegistrySettings fromConfig(JsonNode node, String where) {
    if (node == null || !node.isObject()) {
      throw new BonestreamException(where + ": expected a mapping with at least url");
    }
    unknownKeys(node, KEYS, where);
    Builder b = builder(text(node, "url", where, true));
    JsonNode auth = node.get("auth");
    if (auth != null && !auth.isNull()) {
      if (!auth.isObject() || auth.size() != 1 || !(auth.has("basic") || auth.has("bearer"))) {
        throw new BonestreamException(where + ".auth: expected one of basic: {user, password-file | password-env} "
            + "or bearer: {token-file | token-env}");
      }
      if (auth.has("basic")) {
        JsonNode basic = auth.get("basic");
        String w = where + ".auth.basic";
        unknownKeys(basic, Set.of("user", "password-file", "password-env"), w);
        b.basic(text(basic, "user", w, true), secret(basic, "password", w));
      } else {
        JsonNode bearer = auth.get("bearer");
        String w = where + ".auth.bearer";
        unknownKeys(bearer, Set.of("token-file", "token-env"), w);
        b.bearer(secret(bearer, "token", w));
      }
    }
    b.truststore(text(node, "truststore", where, false));
    if (node.has("truststore-password-file") || node.has("truststore-password-env")) {
      b.truststorePassword(secret(node, "truststore-password", where));
    }
    JsonNode insecure = node.get("allow-insecure");
    if (insecure != null) {
      if (!insecure.isBoolean()) {
        throw new BonestreamException(where + ".allow-insecure: expected true or false");
      }
      b.allowInsecure(insecure.asBoolean());
    }
    String timeout = text(node, "timeout", where, false);
    if (timeout != null) {
      b.timeout(duration(timeout, where + ".timeout"));
    }
    String backoff = text(node, "backoff", where, false);
    if (backoff != null) {
      b.backoff(duration(backoff, where + ".backoff"));
    }
    if (node.has("cache-size")) {
      b.cacheSize(integer(node, "cache-size", where));
    }
    if (node.has("retries")) {
      b.retries(integer(node, "retries", where));
    }
    try {
      return b.build();
    } catch (BonestreamException e) {
      throw new BonestreamException(where + ": " + e.getMessage());
    }
  }

  private static void unknownKeys(JsonNode node, Set<String> known, String where) {
    if (node == null || !node.isObject()) {
      throw new BonestreamException(where + ": expected a mapping");
    }
    List<String> unknown = new ArrayList<>();
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!known.contains(k)) {
        unknown.add(k);
      }
    }
    if (!unknown.isEmpty()) {
      throw new BonestreamException(where + ": unknown key(s) " + unknown + " (known: "
          + String.join(", ", new java.util.TreeSet<>(known)) + ")");
    }
  }

  private static @Nullable String text(JsonNode node, String key, String where, boolean required) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      if (required) {
        throw new BonestreamException(where + "." + key + " is missing");
      }
      return null;
    }
    if (!v.isValueNode() || v.isBoolean()) {
      throw new BonestreamException(where + "." + key + ": expected a text value");
    }
    return v.asText();
  }

  private static int integer(JsonNode node, String key, String where) {
    JsonNode v = node.get(key);
    if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
      throw new BonestreamException(where + "." + key + ": expected a whole number");
    }
    return v.asInt();
  }

  private static Secret secret(JsonNode node, String prefix, String where) {
    String file = text(node, prefix + "-file", where, false);
    String env = text(node, prefix + "-env", where, false);
    if ((file == null) == (env == null)) {
      throw new BonestreamException(where + ": give " + prefix + "-file or " + prefix + "-env, one of them");
    }
    return new Secret(file, env);
  }

  /** {@code 500ms}, {@code 5s}, {@code 1m} (plain numbers are seconds), as job.yaml's other durations. */
  private static Duration duration(String text, String what) {
    return io.bonestream.core.util.Durations.parse(text, what);
  }
}
