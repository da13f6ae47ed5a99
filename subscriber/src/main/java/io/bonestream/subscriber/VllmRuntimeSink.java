package io.bonestream.subscriber;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * Keeps a vLLM server's LoRA adapters in step with the subscriber, through vLLM's runtime LoRA API
 * (enabled in vLLM by {@code VLLM_ALLOW_RUNTIME_LORA_UPDATING=True}). For each accepted version it:
 *
 * <ol>
 *   <li>writes the version as a vLLM LoRA folder ({@link PeftExportSink}'s vLLM layout) in the
 *       export folder, which vLLM must see too (a shared volume; {@link Builder#loraPathPrefix}
 *       is where vLLM sees it);
 *   <li>loads it under its immutable name {@code <adapter>@<version>}
 *       ({@code POST /v1/load_lora_adapter}; "already loaded" counts as loaded: a restart replays);
 *   <li>moves the alias {@code <adapter>} to it: a reload in place ({@code load_inplace: true}, same
 *       LoRA id, no moment without the alias) or, on a vLLM without {@code load_inplace} (it answers
 *       "has already been loaded") or if {@link AliasSwitch#UNLOAD_THEN_LOAD} is asked, an unload
 *       and a load;
 *   <li>unloads the immutable versions beyond the last {@code keep}
 *       ({@code POST /v1/unload_lora_adapter}; "cannot be found" counts as unloaded), and removes
 *       their folders.
 * </ol>
 *
 * Every request has a timeout; a connection failure, a timeout or a 5xx is retried with
 * exponential backoff up to {@code attempts} times; a 4xx is not retried. A version vLLM refuses
 * (say, a rank above its {@code --max-lora-rank}) is logged and counted
 * ({@code bonestream_subscriber_vllm_loads_total{outcome="failed"}}); the alias stays where it was
 * and the subscriber goes on. It runs on the subscriber's thread: a version takes at most about
 * attempts × (timeout + backoff) per request.
 *
 * <p>The API's shapes are those of vLLM's source, read on its main branch:
 * vllm/entrypoints/openai/models/serving.py ({@code OpenAIServingModels.load_lora_adapter},
 * {@code unload_lora_adapter}), vllm/entrypoints/serve/lora/api_router.py and protocol.py
 * ({@code LoadLoRAAdapterRequest}: lora_name, lora_path, load_inplace; {@code UnloadLoRAAdapterRequest}:
 * lora_name), and the older vllm/entrypoints/openai/serving_models.py (0.8 era, no load_inplace).
 * docs/vllm.md has the details; this sink was tested against an emulation of that API, not a real vLLM.
 *
 * <p>The API key ({@code Authorization: Bearer}, vLLM's {@code --api-key}) is never logged nor
 * shown by {@link #toString()}; redirects are not followed (they could carry it elsewhere);
 * answers are read up to {@value #MAX_ANSWER_BYTES} bytes.
 */
public final class VllmRuntimeSink implements AdapterListener {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(VllmRuntimeSink.class);
  static final String LOAD = "/v1/load_lora_adapter";
  static final String UNLOAD = "/v1/unload_lora_adapter";
  static final String MODELS = "/v1/models";
  /** The most of an answer read: vLLM's answers to these requests are a line of text or a small JSON. */
  static final int MAX_ANSWER_BYTES = 64 * 1024;

  /** How the alias moves to a new version. */
  public enum AliasSwitch {
    /**
     * {@code load_inplace: true}: vLLM replaces the alias's weights under the same LoRA id; a
     * request for the alias never finds it missing. On a vLLM that predates {@code load_inplace}
     * (it answers "has already been loaded"), falls back to {@link #UNLOAD_THEN_LOAD}. As read
     * in vLLM's source, the alias's stored request keeps {@code load_inplace}, which may make vLLM
     * read its (immutable) folder again as batches use it (docs/vllm.md).
     */
    IN_PLACE,
    /** Unload the alias, then load it: in between, a request for the alias gets a 404. */
    UNLOAD_THEN_LOAD
  }

  private final URI url;
  private final PeftExportSink export;
  private final String loraPathPrefix;
  private final @Nullable String apiKey;
  private final int keep;
  private final int attempts;
  private final Duration requestTimeout;
  private final Duration initialBackoff;
  private final Duration maxBackoff;
  private final AliasSwitch aliasSwitch;
  private final @Nullable SubscriberMetrics metrics;
  private final HttpClient http;
  /** Per adapter, the versions loaded in vLLM under their immutable names (as far as this sink knows). */
  private final Map<String, TreeSet<Long>> loaded = new HashMap<>();
  /** Per adapter, the version vLLM's alias serves. */
  private final Map<String, Long> alias = new HashMap<>();
  /** Adapters whose versions already loaded in vLLM were looked up (after a restart, to unload the old ones). */
  private final Set<String> adopted = new HashSet<>();

  private VllmRuntimeSink(Builder b, URI url, PeftExportSink export, String prefix, @Nullable String apiKey) {
    this.url = url;
    this.export = export;
    this.loraPathPrefix = prefix;
    this.apiKey = apiKey;
    this.keep = b.keep;
    this.attempts = b.attempts;
    this.requestTimeout = b.requestTimeout;
    this.initialBackoff = b.initialBackoff;
    this.maxBackoff = b.maxBackoff;
    this.aliasSwitch = b.aliasSwitch;
    this.metrics = b.metrics;
    this.http = HttpClient.newBuilder().connectTimeout(b.connectTimeout).followRedirects(HttpClient.Redirect.NEVER)
        .version(HttpClient.Version.HTTP_1_1).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * Settings: keep 3 versions, vLLM's default max LoRA rank (16), 5 attempts per request with
   * backoff from 200 ms to 5 s, 5 s to connect, 60 s per request (vLLM reads the adapter from disk
   * before it answers a load), alias moved in place.
   */
  public static final class Builder {
    private @Nullable String url;
    private @Nullable Path exportDir;
    private @Nullable String loraPathPrefix;
    private @Nullable String baseModelName;
    private int maxLoraRank = PeftExportSink.VLLM_DEFAULT_MAX_LORA_RANK;
    private int batLoraRank;
    private int keep = 3;
    private @Nullable String apiKey;
    private @Nullable Path apiKeyFile;
    private int attempts = 5;
    private Duration connectTimeout = Duration.ofSeconds(5);
    private Duration requestTimeout = Duration.ofSeconds(60);
    private Duration initialBackoff = Duration.ofMillis(200);
    private Duration maxBackoff = Duration.ofSeconds(5);
    private boolean allowPlainHttp;
    private AliasSwitch aliasSwitch = AliasSwitch.IN_PLACE;
    private @Nullable SubscriberMetrics metrics;

    private Builder() {}

    /** vLLM's base URL, e.g. {@code http://127.0.0.1:8000} (the API's paths start with /v1). */
    public Builder url(String url) {
      this.url = url;
      return this;
    }

    /** Where this sink writes the versions' LoRA folders (a volume vLLM reads too). */
    public Builder exportDir(Path dir) {
      this.exportDir = dir;
      return this;
    }

    /** The export folder as vLLM sees it, an absolute path (default: the export folder's own absolute path). */
    public Builder loraPathPrefix(String prefix) {
      this.loraPathPrefix = prefix;
      return this;
    }

    /**
     * The {@code base_model_name_or_path} written in each LoRA: vLLM's {@code --model} value, which
     * its filesystem resolver requires (default: the model folder's name). vLLM's runtime load does
     * not check it.
     */
    public Builder baseModelName(String name) {
      this.baseModelName = name;
      return this;
    }

    /** vLLM's {@code --max-lora-rank}: one of {@link PeftExportSink#VLLM_MAX_LORA_RANKS} (default 16). */
    public Builder maxLoraRank(int rank) {
      this.maxLoraRank = rank;
      return this;
    }

    /** The rank of a bat adapter's truncated-SVD LoRA, at most the max rank (0: the max rank). */
    public Builder batLoraRank(int rank) {
      this.batLoraRank = rank;
      return this;
    }

    /** Immutable versions kept loaded in vLLM (and on disk) per adapter, besides the alias. */
    public Builder keep(int versions) {
      this.keep = versions;
      return this;
    }

    /** vLLM's API key ({@code --api-key}), sent as {@code Authorization: Bearer}. */
    public Builder apiKey(String key) {
      this.apiKey = key;
      return this;
    }

    /** vLLM's API key from a file that only its owner may read (0600 or 0400). */
    public Builder apiKeyFile(Path file) {
      this.apiKeyFile = file;
      return this;
    }

    /** Tries per request (≥ 1): connection failures, timeouts and 5xx are retried. */
    public Builder attempts(int attempts) {
      this.attempts = attempts;
      return this;
    }

    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = timeout;
      return this;
    }

    /** The most one request may take, from sending it to its answer's headers. */
    public Builder requestTimeout(Duration timeout) {
      this.requestTimeout = timeout;
      return this;
    }

    /** The wait before the first retry (doubling after each, up to {@code max}). */
    public Builder backoff(Duration initial, Duration max) {
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /**
     * Allows {@code http://} to a host other than loopback: the API key and the adapters' paths
     * would cross the network unencrypted (refused by default; use https:// or a loopback address).
     */
    public Builder allowPlainHttp(boolean allow) {
      this.allowPlainHttp = allow;
      return this;
    }

    public Builder aliasSwitch(AliasSwitch how) {
      this.aliasSwitch = how;
      return this;
    }

    /** Counts loads, unloads and retries, and exports the alias's version, in these metrics. */
    public Builder metrics(SubscriberMetrics metrics) {
      this.metrics = metrics;
      return this;
    }

    public VllmRuntimeSink build() {
      URI u = checkUrl(url, allowPlainHttp);
      if (exportDir == null) {
        throw new BonestreamException("vLLM sink: give the export folder (a volume vLLM reads too)");
      }
      if (keep < 1) {
        throw new BonestreamException("vLLM sink: keep must be at least 1, not " + keep);
      }
      if (attempts < 1) {
        throw new BonestreamException("vLLM sink: attempts must be at least 1, not " + attempts);
      }
      positive("connect timeout", connectTimeout, false);
      positive("request timeout", requestTimeout, false);
      positive("backoff", initialBackoff, true);
      positive("max backoff", maxBackoff, true);
      if (maxBackoff.compareTo(initialBackoff) < 0) {
        throw new BonestreamException("vLLM sink: the max backoff " + maxBackoff + " is below the first " + initialBackoff);
      }
      if (apiKey != null && apiKeyFile != null) {
        throw new BonestreamException("vLLM sink: give the API key or its file, not both");
      }
      String key = apiKeyFile != null ? readKeyFile(apiKeyFile) : apiKey;
      if (key != null) {
        checkKey(key);
      }
      String prefix = loraPathPrefix != null ? loraPathPrefix : exportDir.toAbsolutePath().normalize().toString();
      checkPrefix(prefix);
      PeftExportSink export = PeftExportSink.builder(exportDir).keep(keep).batLoraRank(batLoraRank)
          .vllm(baseModelName, maxLoraRank).build();
      return new VllmRuntimeSink(this, u, export, prefix.endsWith("/") && prefix.length() > 1
          ? prefix.substring(0, prefix.length() - 1) : prefix, key);
    }
  }

  private static void positive(String what, @Nullable Duration d, boolean zeroAllowed) {
    if (d == null || d.isNegative() || d.isZero() && !zeroAllowed) {
      throw new BonestreamException("vLLM sink: the " + what + " must be " + (zeroAllowed ? "zero or more" : "positive")
          + ", not " + d);
    }
  }

  /** A vLLM base URL: http(s), a host, no query or fragment; plain http only to loopback unless allowed. */
  static URI checkUrl(@Nullable String url, boolean allowPlainHttp) {
    if (url == null || url.isBlank()) {
      throw new BonestreamException("vLLM sink: give vLLM's URL, e.g. http://127.0.0.1:8000");
    }
    URI u;
    try {
      u = new URI(url);
    } catch (URISyntaxException e) {
      throw new BonestreamException("vLLM's URL " + url + " is not a URL: " + e.getReason());
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(java.util.Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https") || u.getHost() == null) {
      throw new BonestreamException("vLLM's URL " + url + " is not an http:// or https:// URL with a host");
    }
    if (u.getRawQuery() != null || u.getRawFragment() != null || u.getRawUserInfo() != null) {
      throw new BonestreamException("vLLM's URL " + url + " has a query, fragment or user info; give the base URL, "
          + "e.g. http://127.0.0.1:8000");
    }
    String path = u.getRawPath() == null ? "" : u.getRawPath();
    if (path.endsWith("/v1") || path.endsWith("/v1/")) {
      throw new BonestreamException("vLLM's URL " + url + " ends in /v1: give the base URL, without /v1");
    }
    if (scheme.equals("http") && !allowPlainHttp && !isLoopback(u.getHost())) {
      throw new BonestreamException("vLLM's URL " + url + " is plain http:// to a host that is not loopback: the API "
          + "key and the adapters' paths would cross the network unencrypted; use https://, or allow plain http "
          + "explicitly");
    }
    try {
      return new URI(scheme, null, u.getHost(), u.getPort(), path.endsWith("/") ? path.substring(0, path.length() - 1)
          : path, null, null);
    } catch (URISyntaxException e) {
      throw new BonestreamException("vLLM's URL " + url + " is not a URL: " + e.getReason());
    }
  }

  /** Loopback by name ({@code localhost}) or by address literal; never a DNS lookup. */
  static boolean isLoopback(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    if (h.equalsIgnoreCase("localhost")) {
      return true;
    }
    if (!h.matches("[0-9.]+") && !h.contains(":")) {
      return false; // a name: not resolved here
    }
    try {
      return InetAddress.getByName(h).isLoopbackAddress(); // a literal: no lookup
    } catch (UnknownHostException e) {
      return false;
    }
  }

  private static String readKeyFile(Path file) {
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("vLLM API key file " + file + " not found");
    }
    try {
      Set<PosixFilePermission> p = Files.getPosixFilePermissions(file);
      for (PosixFilePermission bad : Set.of(PosixFilePermission.GROUP_READ, PosixFilePermission.GROUP_WRITE,
          PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ, PosixFilePermission.OTHERS_WRITE,
          PosixFilePermission.OTHERS_EXECUTE)) {
        if (p.contains(bad)) {
          throw new BonestreamException("vLLM API key file " + file + " may be read or written by others than its "
              + "owner (" + java.nio.file.attribute.PosixFilePermissions.toString(p) + "): chmod 600 it");
        }
      }
    } catch (UnsupportedOperationException e) {
      // not a POSIX file system: nothing to check
    } catch (IOException e) {
      throw new BonestreamException("cannot read the permissions of the vLLM API key file " + file);
    }
    try {
      return Files.readString(file).strip();
    } catch (IOException e) {
      throw new BonestreamException("cannot read the vLLM API key file " + file);
    }
  }

  private static void checkKey(String key) {
    if (key.isBlank()) {
      throw new BonestreamException("vLLM sink: the API key is empty");
    }
    for (char c : key.toCharArray()) {
      if (c < 0x21 || c > 0x7e) {
        throw new BonestreamException("vLLM sink: the API key holds a space, a control or a non-ASCII character");
      }
    }
  }

  private static void checkPrefix(String prefix) {
    if (!prefix.startsWith("/") || prefix.contains("\\") || java.util.Arrays.asList(prefix.split("/")).contains("..")
        || prefix.chars().anyMatch(c -> c < 0x20)) {
      throw new BonestreamException("vLLM sink: the LoRA path prefix must be an absolute path as vLLM sees the export "
          + "folder (e.g. /adapters), without '..', not '" + prefix + "'");
    }
  }

  /** The folder of a version as vLLM reads it. */
  public String loraPath(String adapterId, long version) {
    return loraPathPrefix + "/" + export.folder(adapterId, version).getFileName();
  }

  /** The export sink this one writes through (vLLM layout). */
  public PeftExportSink export() {
    return export;
  }

  @Override
  public synchronized void onUpdate(AdapterUpdate update) {
    if (!(update instanceof AdapterUpdate.Accepted a)) {
      return;
    }
    AdapterVersion v = a.adapter();
    try {
      export.writeVersion(v);
    } catch (RuntimeException e) {
      count(false);
      LOG.warn("vLLM: {} not exported, so not loaded: {}", v.name(), e.getMessage());
      return;
    }
    adopt(v.adapterId());
    String path = loraPath(v.adapterId(), v.version());
    try {
      load(v.name(), path, false);
      count(true);
    } catch (VllmException e) {
      count(false);
      LOG.warn("vLLM did not load {}: {}", v.name(), e.getMessage());
      prune(v.adapterId());
      return;
    }
    loaded.computeIfAbsent(v.adapterId(), k -> new TreeSet<>()).add(v.version());
    Long current = alias.get(v.adapterId());
    if (current == null || current < v.version()) {
      try {
        moveAlias(v.adapterId(), path);
        count(true);
        alias.put(v.adapterId(), v.version());
        if (metrics != null) {
          metrics.vllmAliasVersion(v.adapterId(), v.version());
        }
        LOG.info("vLLM serves {} as {}", v.name(), v.adapterId());
      } catch (VllmException e) {
        count(false);
        LOG.warn("vLLM's alias {} not moved to {}: {}", v.adapterId(), v.name(), e.getMessage());
      }
    }
    unloadBeyondKeep(v.adapterId());
    prune(v.adapterId());
  }

  /** The versions of an adapter this sink has loaded in vLLM under their immutable names. */
  public synchronized Set<Long> loadedVersions(String adapterId) {
    return Set.copyOf(loaded.getOrDefault(adapterId, new TreeSet<>()));
  }

  /** The version vLLM's alias of an adapter serves, as this sink last moved it. */
  public synchronized java.util.Optional<Long> aliasVersion(String adapterId) {
    return java.util.Optional.ofNullable(alias.get(adapterId));
  }

  /**
   * Once per adapter (after a restart, say), the versions vLLM has loaded already, from
   * {@code GET /v1/models}: the old ones are then unloaded like any other. Best effort.
   */
  private void adopt(String adapterId) {
    if (!adopted.add(adapterId)) {
      return;
    }
    try {
      Answer a = send("GET", MODELS, null, "listing vLLM's models");
      if (a.status() != 200) {
        return;
      }
      for (JsonNode m : Json.MAPPER.readTree(a.body()).path("data")) {
        String id = m.path("id").asText("");
        if (id.startsWith(adapterId + "@") && id.length() > adapterId.length() + 1
            && id.substring(adapterId.length() + 1).chars().allMatch(Character::isDigit)
            && id.length() - adapterId.length() - 1 <= 18) {
          loaded.computeIfAbsent(adapterId, k -> new TreeSet<>()).add(Long.parseLong(id.substring(adapterId.length() + 1)));
        }
      }
    } catch (VllmException | IOException e) {
      LOG.debug("vLLM: could not list the loaded adapters: {}", e.getMessage());
    }
  }

  private void load(String name, String path, boolean inplace) throws VllmException {
    ObjectNode body = Json.MAPPER.createObjectNode();
    body.put("lora_name", name);
    body.put("lora_path", path);
    if (inplace) {
      body.put("load_inplace", true);
    }
    Answer a = send("POST", LOAD, body, "loading " + name);
    if (a.status() == 200) {
      return;
    }
    String message = a.message();
    if (!inplace && a.status() == 400 && message.contains("has already been loaded")) {
      return; // loaded before (a restart replaying): the same immutable folder
    }
    throw new VllmException(refusal("load " + name + " from " + path, a));
  }

  private void moveAlias(String adapterId, String path) throws VllmException {
    if (aliasSwitch == AliasSwitch.IN_PLACE) {
      ObjectNode body = Json.MAPPER.createObjectNode();
      body.put("lora_name", adapterId);
      body.put("lora_path", path);
      body.put("load_inplace", true);
      Answer a = send("POST", LOAD, body, "moving the alias " + adapterId);
      if (a.status() == 200) {
        return;
      }
      if (!(a.status() == 400 && a.message().contains("has already been loaded"))) {
        throw new VllmException(refusal("load " + adapterId + " from " + path, a));
      }
      // a vLLM without load_inplace: unload, then load
    }
    unload(adapterId);
    load(adapterId, path, false);
  }

  /** Unloads a name; true if vLLM has it no more ("cannot be found" included). */
  private boolean unload(String name) throws VllmException {
    ObjectNode body = Json.MAPPER.createObjectNode();
    body.put("lora_name", name);
    Answer a = send("POST", UNLOAD, body, "unloading " + name);
    if (a.status() == 200 || a.status() == 404 && a.message().contains("cannot be found")) {
      return true;
    }
    throw new VllmException(refusal("unload " + name, a));
  }

  private void unloadBeyondKeep(String adapterId) {
    TreeSet<Long> versions = loaded.get(adapterId);
    if (versions == null) {
      return;
    }
    Long current = alias.get(adapterId);
    for (Long old : new TreeSet<>(versions)) {
      if (versions.size() <= keep) {
        break;
      }
      if (old.equals(current)) {
        continue; // the alias's own version stays while the alias serves it
      }
      String name = adapterId + "@" + old;
      try {
        unload(name);
        versions.remove(old);
        if (metrics != null) {
          metrics.vllmUnload(true);
        }
      } catch (VllmException e) {
        if (metrics != null) {
          metrics.vllmUnload(false);
        }
        LOG.warn("vLLM did not unload {}: {}", name, e.getMessage());
      }
    }
  }

  /** Removes the folders of old versions, never one vLLM may still read (loaded, or the alias's). */
  private void prune(String adapterId) {
    Set<Long> spared = new HashSet<>(loaded.getOrDefault(adapterId, new TreeSet<>()));
    Long current = alias.get(adapterId);
    if (current != null) {
      spared.add(current);
    }
    try {
      export.prune(adapterId, spared);
    } catch (IOException e) {
      LOG.warn("cannot remove old versions of {} from {}: {}", adapterId, export.dir(), e.getMessage());
    }
  }

  private void count(boolean ok) {
    if (metrics != null) {
      metrics.vllmLoad(ok);
    }
  }

  /** One answer: its status and its body (at most {@link #MAX_ANSWER_BYTES}). */
  record Answer(int status, String body) {
    /** vLLM's error message: {"error": {"message"}} (newer), {"message"} (older), FastAPI's {"detail"}, else the text. */
    String message() {
      try {
        JsonNode n = Json.MAPPER.readTree(body);
        if (n != null && n.isObject()) {
          for (JsonNode m : new JsonNode[] {n.path("error").path("message"), n.path("message"), n.path("detail"),
              n.path("error")}) {
            if (m.isTextual()) {
              return m.asText();
            }
          }
        }
      } catch (IOException e) {
        // not JSON: the text itself
      }
      return body.length() > 300 ? body.substring(0, 300) + "…" : body;
    }
  }

  private String refusal(String what, Answer a) {
    String m = a.message();
    if (a.status() == 404 && m.equals("Not Found")) {
      return "vLLM answered 404 Not Found to " + what + ": its runtime LoRA API is off (start vLLM with "
          + "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) or " + url + " is not vLLM";
    }
    if (a.status() == 404 && m.contains("No adapter found")) {
      return "vLLM cannot " + what + ": " + m + " (does vLLM see the export folder at " + loraPathPrefix + "?)";
    }
    if (a.status() == 401) {
      return "vLLM refused to " + what + ": 401 Unauthorized (" + (apiKey == null ? "no API key given" : "wrong API key")
          + ")";
    }
    return "vLLM refused to " + what + ": " + a.status() + " " + m;
  }

  /** Sends a request, retrying connection failures, timeouts and 5xx with backoff. */
  private Answer send(String method, String path, @Nullable ObjectNode body, String what) throws VllmException {
    HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(url + path)).timeout(requestTimeout);
    if (body != null) {
      rb.header("Content-Type", "application/json").method(method,
          HttpRequest.BodyPublishers.ofString(Json.toCompactString(body), StandardCharsets.UTF_8));
    } else {
      rb.method(method, HttpRequest.BodyPublishers.noBody());
    }
    if (apiKey != null) {
      rb.header("Authorization", "Bearer " + apiKey);
    }
    HttpRequest request = rb.build();
    Duration backoff = initialBackoff;
    for (int attempt = 1; ; attempt++) {
      String failure;
      try {
        HttpResponse<InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        String text = readAnswer(r.body());
        if (r.statusCode() < 500) {
          return new Answer(r.statusCode(), text);
        }
        failure = r.statusCode() + " " + new Answer(r.statusCode(), text).message();
        if (attempt >= attempts) {
          return new Answer(r.statusCode(), text);
        }
      } catch (IOException e) {
        failure = e instanceof java.net.http.HttpTimeoutException ? "no answer within " + requestTimeout.toMillis() + " ms"
            : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        if (attempt >= attempts) {
          throw new VllmException(what + " failed after " + attempts + " attempts: " + failure);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new VllmException(what + " interrupted");
      }
      if (metrics != null) {
        metrics.vllmRetry();
      }
      LOG.info("vLLM: {} failed ({}), attempt {} of {}: again in {} ms", what, failure, attempt, attempts,
          backoff.toMillis());
      try {
        Thread.sleep(backoff.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new VllmException(what + " interrupted");
      }
      backoff = backoff.multipliedBy(2).compareTo(maxBackoff) > 0 ? maxBackoff : backoff.multipliedBy(2);
    }
  }

  /** At most {@link #MAX_ANSWER_BYTES} of an answer, and no longer than the request timeout. */
  private String readAnswer(InputStream in) throws IOException {
    try (in) {
      byte[] bytes;
      try {
        bytes = BoundedRead.read(in, MAX_ANSWER_BYTES, requestTimeout, "vLLM's answer");
      } catch (BlobFetchException e) {
        throw new IOException(e.getMessage());
      }
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }

  /** A request vLLM refused or that failed after its retries. */
  private static final class VllmException extends Exception {
    VllmException(String message) {
      super(message);
    }
  }

  @Override
  public String toString() {
    return "VllmRuntimeSink[" + url + ", lora paths under " + loraPathPrefix + ", keep " + keep + ", "
        + (apiKey == null ? "no API key" : "API key set") + ", " + aliasSwitch + "]";
  }
}
