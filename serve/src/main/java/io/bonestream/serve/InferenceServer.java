package io.bonestream.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import io.bonestream.engine.generate.Generator;
import io.bonestream.engine.generate.Sampling;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.model.Transformer;
import io.bonestream.engine.tokenizer.Tokenizer;
import io.bonestream.subscriber.AdapterRegistry;
import io.bonestream.subscriber.AdapterVersion;
import io.bonestream.subscriber.SubscriberMetrics;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;

/**
 * The reference inference service: an HTTP JSON server that generates with the base model or any
 * held adapter version, switching versions as the subscriber accepts them.
 *
 * <ul>
 *   <li>{@code POST /v1/completions}: OpenAI-style {@code model} (the base model's name, an adapter
 *       alias, or {@code adapter@version}), {@code prompt}, {@code max_tokens}, {@code temperature},
 *       {@code top_p}, {@code seed}.
 *   <li>{@code GET /v1/models}: the base model, every adapter alias and every held version.
 *   <li>{@code GET /metrics} (Prometheus), {@code GET /healthz}, {@code GET /readyz} (caught up).
 *   <li>{@code GET /}: the status page (every adapter's served, latest and held versions, pin,
 *       staleness, refusals, and a plot of its losses by version), refreshing itself from
 *       {@code GET /status.json}; self-contained, nothing loaded from elsewhere.
 *   <li>{@code POST /admin/pin} {@code {"adapter","version"}} and {@code POST /admin/unpin}
 *       {@code {"adapter"}}: need {@code Authorization: Bearer <admin token>}; off without one.
 * </ul>
 *
 * Bad requests and unknown models get a 4xx JSON error, never a 500. Every request is bounded: the
 * body in bytes, the prompt in tokens (checked on its length before it is tokenized), {@code
 * max_tokens}, the time to read the request and to write the response, and the generations at
 * once with a bounded queue (beyond it 429, after waiting too long 503). With an API token,
 * completions, models and the status data need {@code Authorization: Bearer <api token>};
 * {@code /healthz}, {@code /readyz} and {@code /metrics} stay open. No page shows blob URIs.
 */
public final class InferenceServer implements AutoCloseable {
  private final BaseModel base;
  private final Tokenizer tokenizer;
  private final AdapterRegistry registry;
  private final @Nullable SubscriberMetrics metrics;
  private final @Nullable String adminToken;
  private final @Nullable String apiToken;
  private final BooleanSupplier ready;
  private final HttpServer http;
  private final RequestDeadlines deadlines;
  private final ComputeSlots slots;
  private final MergedWeightsCache merged;
  private final int maxPromptTokens;
  private final int maxTokens;
  private final AdapterHistory history = new AdapterHistory(2000);
  private final byte[] statusPage;

  private InferenceServer(Builder b) throws IOException {
    this.base = b.base;
    this.tokenizer = b.tokenizer;
    this.registry = b.registry;
    this.metrics = b.metrics;
    this.adminToken = b.adminToken;
    this.apiToken = b.apiToken;
    this.ready = b.ready;
    this.maxPromptTokens = Math.min(b.maxPromptTokens, base.config().maxPositionEmbeddings());
    this.maxTokens = b.maxTokens;
    this.slots = new ComputeSlots(b.concurrency, b.queue, b.queueWait);
    this.merged = new MergedWeightsCache(b.mergedCacheBytes, b.base);
    this.statusPage = statusPage();
    this.http = HttpServer.create(new InetSocketAddress(b.host, b.port), 0);
    this.deadlines = new RequestDeadlines(b.connections, b.requestTimeout, "bonestream-serve");
    http.setExecutor(deadlines);
    registry.addListener(history);
    http.createContext("/v1/completions", ex -> handle(ex, "POST", this::completions));
    http.createContext("/v1/models", ex -> handle(ex, "GET", e -> {
      authorizeApi(e);
      return models();
    }));
    http.createContext("/metrics", this::metrics);
    http.createContext("/healthz", ex -> handle(ex, "GET", e -> Json.MAPPER.createObjectNode().put("status", "ok")));
    http.createContext("/readyz", this::readyz);
    http.createContext("/admin/pin", ex -> handle(ex, "POST", this::pin));
    http.createContext("/admin/unpin", ex -> handle(ex, "POST", this::unpin));
    http.createContext("/status.json", ex -> handle(ex, "GET", e -> {
      authorizeApi(e);
      return status();
    }));
    http.createContext("/", this::root);
    http.start();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** The port it listens on (useful with port 0). */
  public int port() {
    return http.getAddress().getPort();
  }

  @Override
  public void close() {
    registry.removeListener(history);
    http.stop(0);
    deadlines.close();
  }

  private static byte[] statusPage() {
    try (var in = InferenceServer.class.getResourceAsStream("status.html")) {
      if (in == null) {
        throw new IllegalStateException("status.html is missing from the serve jar");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** {@code GET /} is the status page; any other unknown path is a JSON 404. */
  private void root(HttpExchange ex) throws IOException {
    if (!ex.getRequestURI().getPath().equals("/")) {
      handle(ex, "GET", e -> {
        throw new HttpError(404, "not_found", "no such endpoint: " + e.getRequestURI().getPath());
      });
      return;
    }
    if (!ex.getRequestMethod().equals("GET")) {
      handle(ex, "GET", e -> null);
      return;
    }
    deadlines.writing();
    ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
    ex.getResponseHeaders().set("Cache-Control", "no-store");
    ex.sendResponseHeaders(200, statusPage.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(statusPage);
    }
    ex.close();
  }

  /** What the status page shows, as JSON. */
  private ObjectNode status() {
    ObjectNode res = Json.MAPPER.createObjectNode();
    res.put("base_model", base.name());
    res.put("ready", ready.getAsBoolean());
    ArrayNode list = res.putArray("adapters");
    java.util.TreeSet<String> ids = new java.util.TreeSet<>(registry.adapterIds());
    ids.addAll(history.adapterIds());
    Instant now = Instant.now();
    for (String id : ids) {
      ObjectNode a = list.addObject();
      a.put("id", id);
      Optional<AdapterVersion> serving = registry.resolve(id);
      Optional<AdapterVersion> latest = registry.latest(id);
      putVersion(a, "serving", serving.map(AdapterVersion::version));
      putVersion(a, "latest", latest.map(AdapterVersion::version));
      putVersion(a, "pinned", registry.pinned(id));
      ArrayNode held = a.putArray("held");
      registry.versions(id).forEach(v -> held.add(v.version()));
      if (latest.isPresent()) {
        a.put("staleness_seconds", Math.max(0, java.time.Duration.between(latest.get().createdAt(), now).toMillis() / 1000.0));
      } else {
        a.putNull("staleness_seconds");
      }
      a.put("refused", history.refusedCount(id));
      AdapterHistory.Refusal last = history.lastRefusal(id);
      if (last != null) {
        a.putObject("last_refusal").put("version", last.version()).put("reason", last.reason().name())
            .put("message", withoutUris(last.message()));
      }
      ArrayNode points = a.putArray("points");
      for (AdapterHistory.Point p : history.points(id)) {
        ObjectNode n = points.addObject();
        n.put("version", p.version());
        n.put("step", p.step());
        n.put("created_at", p.createdAt().toString());
        putFinite(n, "last_loss", p.lastLoss());
        putFinite(n, "loss_ema", p.lossEma());
        putFinite(n, "eval_loss", p.evalLoss() == null ? Double.NaN : p.evalLoss());
      }
    }
    return res;
  }

  private static final java.util.regex.Pattern URI =
      java.util.regex.Pattern.compile("(?i)\\b(?:[a-z][a-z0-9+.-]*://|file:)[^\\s)\"']*[^\\s)\"'.,:;]");

  /** A refusal message without the blob URIs it may name (bucket and key layout stay private). */
  static String withoutUris(String message) {
    return URI.matcher(message).replaceAll("<blob>");
  }

  private static void putVersion(ObjectNode n, String key, Optional<Long> v) {
    if (v.isPresent()) {
      n.put(key, v.get());
    } else {
      n.putNull(key);
    }
  }

  private static void putFinite(ObjectNode n, String key, double v) {
    if (Double.isFinite(v)) {
      n.put(key, v);
    } else {
      n.putNull(key);
    }
  }

  /** A request error with its HTTP status. */
  private static final class HttpError extends RuntimeException {
    final int status;
    final String type;

    HttpError(int status, String type, String message) {
      super(message, null, false, false);
      this.status = status;
      this.type = type;
    }
  }

  @FunctionalInterface
  private interface Handler {
    ObjectNode handle(HttpExchange ex) throws IOException;
  }

  private void handle(HttpExchange ex, String method, Handler h) throws IOException {
    try {
      if (!ex.getRequestMethod().equals(method)) {
        throw new HttpError(405, "method_not_allowed", ex.getRequestURI().getPath() + " takes " + method);
      }
      ObjectNode res = h.handle(ex);
      deadlines.writing();
      send(ex, 200, res);
    } catch (HttpError e) {
      deadlines.writing();
      if (e.status == 429) {
        ex.getResponseHeaders().set("Retry-After", "1");
      }
      send(ex, e.status, error(e.type, e.getMessage()));
    } catch (BonestreamException e) {
      send(ex, 400, error("invalid_request_error", e.getMessage()));
    } catch (RuntimeException e) {
      deadlines.writing();
      send(ex, 503, error("server_error", "cannot serve the request: " + e.getMessage()));
    } finally {
      ex.close();
    }
  }

  private static ObjectNode error(String type, String message) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.putObject("error").put("message", message).put("type", type);
    return n;
  }

  private static void send(HttpExchange ex, int status, ObjectNode body) throws IOException {
    byte[] b = Json.toCompactString(body).getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
  }

  /** Requests over this size are refused (413) without being parsed. */
  public static final int MAX_BODY_BYTES = 1 << 20;

  private static JsonNode body(HttpExchange ex) throws IOException {
    byte[] raw = ex.getRequestBody().readNBytes(MAX_BODY_BYTES + 1);
    if (raw.length > MAX_BODY_BYTES) {
      throw new HttpError(413, "request_too_large", "the body is over " + MAX_BODY_BYTES + " bytes");
    }
    try {
      JsonNode n = Json.MAPPER.readTree(raw);
      if (n == null || !n.isObject()) {
        throw new HttpError(400, "invalid_request_error", "the body must be a JSON object");
      }
      return n;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new HttpError(400, "invalid_request_error", "malformed JSON: " + e.getOriginalMessage());
    }
  }

  private ObjectNode completions(HttpExchange ex) throws IOException {
    authorizeApi(ex);
    JsonNode req = body(ex);
    deadlines.computing();
    String model = text(req, "model", null);
    if (model == null) {
      throw new HttpError(400, "invalid_request_error", "'model' is required");
    }
    if (!req.path("prompt").isTextual()) {
      throw new HttpError(400, "invalid_request_error", "'prompt' must be a string");
    }
    onlyKnownFields(req, "model", "prompt", "max_tokens", "temperature", "top_p", "seed", "stream", "n", "user");
    if (req.path("stream").asBoolean(false) || whole(req, "n", 1, 1, 1) != 1) {
      throw new HttpError(400, "invalid_request_error", "only 'stream': false and 'n': 1 are served");
    }
    int maxTokens = (int) whole(req, "max_tokens", Math.min(16, this.maxTokens), 0, this.maxTokens);
    double temperature = number(req, "temperature", 1.0);
    double topP = number(req, "top_p", 1.0);
    long seed = whole(req, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
    if (!(temperature >= 0 && temperature <= 100)) {
      throw new HttpError(400, "invalid_request_error", "'temperature' must be in [0, 100]");
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new HttpError(400, "invalid_request_error", "'top_p' must be in (0, 1]");
    }
    String served;
    @Nullable AdapterVersion adapter;
    if (model.equals(base.name())) {
      served = base.name();
      adapter = null;
    } else {
      Optional<AdapterVersion> v = registry.resolve(model);
      if (v.isEmpty()) {
        throw new HttpError(404, "model_not_found", "unknown model '" + model + "' (see /v1/models)");
      }
      served = v.get().name();
      adapter = v.get();
    }
    Sampling sampling = new Sampling(maxTokens, temperature, topP, seed, true);
    int[] prompt = promptTokens(req.get("prompt").asText());
    int[] out;
    acquireSlot();
    try {
      BaseModel weights = adapter == null ? base : merged.get(adapter);
      out = Generator.generate(new Transformer(weights, null), prompt, sampling, tokenizer.eosId(), id -> { });
    } finally {
      slots.release();
    }
    boolean stopped = out.length > 0 && out[out.length - 1] == tokenizer.eosId();
    ObjectNode res = Json.MAPPER.createObjectNode();
    res.put("id", "cmpl-" + UUID.randomUUID());
    res.put("object", "text_completion");
    res.put("created", Instant.now().getEpochSecond());
    res.put("model", served);
    ObjectNode choice = res.putArray("choices").addObject();
    choice.put("index", 0);
    choice.put("text", tokenizer.decode(out));
    choice.put("finish_reason", stopped ? "stop" : "length");
    res.putObject("usage").put("prompt_tokens", prompt.length).put("completion_tokens", out.length)
        .put("total_tokens", prompt.length + out.length);
    return res;
  }

  /**
   * The prompt's tokens, at most the cap. A prompt so long that even the longest tokens could not
   * bring it under the cap is refused on its length alone, before the tokenizer sees it.
   */
  private int[] promptTokens(String prompt) {
    long visible = Tokenizer.visibleChars(prompt);
    if (visible > (long) maxPromptTokens * tokenizer.maxPieceChars()) {
      refused("prompt_too_long");
      throw new HttpError(400, "invalid_request_error", "the prompt has " + visible + " characters: over "
          + maxPromptTokens + " tokens, the most this server takes");
    }
    int[] tokens = tokenizer.encode(prompt);
    if (tokens.length > maxPromptTokens) {
      refused("prompt_too_long");
      throw new HttpError(400, "invalid_request_error", "the prompt has " + tokens.length + " tokens: over "
          + maxPromptTokens + ", the most this server takes");
    }
    return tokens;
  }

  private void acquireSlot() {
    try {
      slots.acquire();
    } catch (ComputeSlots.Full e) {
      refused("busy");
      throw new HttpError(429, "rate_limit_error", "too many requests: every generation slot is busy and "
          + "the queue is full; retry later");
    } catch (ComputeSlots.TimedOut e) {
      refused("queue_timeout");
      throw new HttpError(503, "server_busy", "no generation slot freed up in time; retry later");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HttpError(503, "server_busy", "the server is stopping");
    }
  }

  private void refused(String reason) {
    if (metrics != null) {
      metrics.requestRefused(reason);
    }
  }

  /** Bytes of merged adapter weights cached now. */
  public long mergedCacheBytes() {
    return merged.bytes();
  }

  private ObjectNode models() {
    ObjectNode res = Json.MAPPER.createObjectNode();
    res.put("object", "list");
    ArrayNode data = res.putArray("data");
    data.addObject().put("id", base.name()).put("object", "model").put("owned_by", "base");
    for (String id : registry.adapterIds()) {
      registry.resolve(id).ifPresent(v -> data.addObject().put("id", id).put("object", "model")
          .put("owned_by", "bonestream").put("root", v.name())
          .put("pinned", registry.pinned(id).isPresent()));
      for (AdapterVersion v : registry.versions(id)) {
        data.addObject().put("id", v.name()).put("object", "model").put("owned_by", "bonestream")
            .put("parent", base.name()).put("created", v.createdAt().getEpochSecond());
      }
    }
    return res;
  }

  private void metrics(HttpExchange ex) throws IOException {
    byte[] b = (metrics == null ? "" : metrics.scrape()).getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    ex.sendResponseHeaders(200, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
    ex.close();
  }

  private void readyz(HttpExchange ex) throws IOException {
    boolean ok = ready.getAsBoolean();
    send(ex, ok ? 200 : 503, Json.MAPPER.createObjectNode().put("ready", ok));
    ex.close();
  }

  private void authorize(HttpExchange ex) {
    if (adminToken == null) {
      throw new HttpError(404, "not_found", "admin endpoints are off (start the server with an admin token)");
    }
    checkBearer(ex, adminToken);
  }

  /** With an API token, completions, models and the status data need it. */
  private void authorizeApi(HttpExchange ex) {
    if (apiToken != null) {
      checkBearer(ex, apiToken);
    }
  }

  private void checkBearer(HttpExchange ex, String token) {
    String h = ex.getRequestHeaders().getFirst("Authorization");
    byte[] given = (h == null ? "" : h).getBytes(StandardCharsets.UTF_8);
    byte[] want = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(given, want)) {
      refused("unauthorized");
      throw new HttpError(401, "unauthorized", "a valid bearer token is required");
    }
  }

  private ObjectNode pin(HttpExchange ex) throws IOException {
    authorize(ex);
    JsonNode req = body(ex);
    String adapter = text(req, "adapter", null);
    if (adapter == null || !req.path("version").canConvertToLong()) {
      throw new HttpError(400, "invalid_request_error", "pin needs 'adapter' and a numeric 'version'");
    }
    long version = req.get("version").asLong();
    if (registry.resolve(adapter + "@" + version).isEmpty()) {
      throw new HttpError(404, "model_not_found", adapter + "@" + version + " is not held");
    }
    registry.pin(adapter, version);
    return Json.MAPPER.createObjectNode().put("adapter", adapter).put("pinned", version);
  }

  private ObjectNode unpin(HttpExchange ex) throws IOException {
    authorize(ex);
    String adapter = text(body(ex), "adapter", null);
    if (adapter == null || registry.latest(adapter).isEmpty()) {
      throw new HttpError(404, "model_not_found", "unknown adapter '" + adapter + "'");
    }
    registry.unpin(adapter);
    return Json.MAPPER.createObjectNode().put("adapter", adapter).put("serving",
        registry.resolve(adapter).map(AdapterVersion::name).orElse(""));
  }

  private static @Nullable String text(JsonNode n, String key, @Nullable String dflt) {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isTextual()) {
      throw new HttpError(400, "invalid_request_error", "'" + key + "' must be a string");
    }
    return v.asText();
  }

  /** Refuses fields a request does not take (a typo would otherwise be ignored silently). */
  private static void onlyKnownFields(JsonNode req, String... known) {
    java.util.Set<String> ok = java.util.Set.of(known);
    for (var it = req.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!ok.contains(f)) {
        throw new HttpError(400, "invalid_request_error", "unknown field '" + (f.length() > 40 ? f.substring(0, 40)
            + "..." : f) + "' (known: " + String.join(", ", known) + ")");
      }
    }
  }

  /** A whole number in [min, max]. */
  private static long whole(JsonNode n, String key, long dflt, long min, long max) {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
      throw new HttpError(400, "invalid_request_error", "'" + key + "' must be a whole number"
          + (min == Long.MIN_VALUE ? "" : " in [" + min + ", " + max + "]"));
    }
    return v.asLong();
  }

  private static double number(JsonNode n, String key, double dflt) {
    JsonNode v = n.get(key);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isNumber()) {
      throw new HttpError(400, "invalid_request_error", "'" + key + "' must be a number");
    }
    return v.asDouble();
  }

  /** Settings; base model, tokenizer and registry are required. */
  public static final class Builder {
    private @Nullable BaseModel base;
    private @Nullable Tokenizer tokenizer;
    private @Nullable AdapterRegistry registry;
    private @Nullable SubscriberMetrics metrics;
    private @Nullable String adminToken;
    private @Nullable String apiToken;
    private BooleanSupplier ready = () -> true;
    private String host = "127.0.0.1";
    private int port = 8000;
    private int connections = 32;
    private int concurrency = 2;
    private int queue = 16;
    private java.time.Duration queueWait = java.time.Duration.ofSeconds(30);
    private java.time.Duration requestTimeout = java.time.Duration.ofSeconds(10);
    private int maxPromptTokens = 2048;
    private int maxTokens = 512;
    private long mergedCacheBytes = 512L << 20;

    public Builder baseModel(BaseModel v) { base = v; return this; }
    public Builder tokenizer(Tokenizer v) { tokenizer = v; return this; }
    public Builder registry(AdapterRegistry v) { registry = v; return this; }
    public Builder metrics(SubscriberMetrics v) { metrics = v; return this; }
    /** Turns the admin endpoints on, guarded by this bearer token. */
    public Builder adminToken(@Nullable String v) { adminToken = v; return this; }
    /** What {@code /readyz} reports, e.g. the subscriber's {@code isReady}. */
    public Builder readiness(BooleanSupplier v) { ready = v; return this; }
    /** The address to listen on: loopback by default; {@code 0.0.0.0} for every interface. */
    public Builder host(String v) { host = v; return this; }
    public Builder port(int v) { port = v; return this; }
    /** Guards completions, models and the status data with this bearer token (default: open). */
    public Builder apiToken(@Nullable String v) { apiToken = v; return this; }
    /** Connections handled at once (worker threads); each holds one for at most the request timeout while it talks (default 32). */
    public Builder connections(int v) { connections = v; return this; }
    /** Generations at once (default 2). */
    public Builder concurrency(int v) { concurrency = v; return this; }
    /** Requests that may wait for a generation slot; beyond that 429 (default 16). */
    public Builder queue(int v) { queue = v; return this; }
    /** How long a request waits for a generation slot before a 503 (default 30 s). */
    public Builder queueWait(java.time.Duration v) { queueWait = v; return this; }
    /** How long reading a request, and writing a response, may each take (default 10 s). */
    public Builder requestTimeout(java.time.Duration v) { requestTimeout = v; return this; }
    /** The longest prompt in tokens (default 2048; never over the model's context). */
    public Builder maxPromptTokens(int v) { maxPromptTokens = v; return this; }
    /** The largest {@code max_tokens} a request may ask for (default 512). */
    public Builder maxTokens(int v) { maxTokens = v; return this; }
    /** Bytes of merged adapter weights kept for reuse (default 512 MiB; 0 merges at every request). */
    public Builder mergedCacheBytes(long v) { mergedCacheBytes = v; return this; }

    public InferenceServer build() {
      if (base == null || tokenizer == null || registry == null) {
        throw new BonestreamException("the inference server needs a base model, its tokenizer and a registry");
      }
      if (adminToken != null && adminToken.length() < 16) {
        throw new BonestreamException("the admin token must be at least 16 characters");
      }
      if (apiToken != null && apiToken.length() < 16) {
        throw new BonestreamException("the API token must be at least 16 characters");
      }
      if (apiToken != null && apiToken.equals(adminToken)) {
        throw new BonestreamException("the API token and the admin token must differ (every client would be an admin)");
      }
      positive("connections", connections);
      positive("concurrency", concurrency);
      positive("max prompt tokens", maxPromptTokens);
      positive("max tokens", maxTokens);
      if (queue < 0 || mergedCacheBytes < 0) {
        throw new BonestreamException("the queue and the merged-weights cache cannot be negative");
      }
      if (queueWait.isNegative() || requestTimeout.isNegative() || requestTimeout.isZero()) {
        throw new BonestreamException("the request timeout must be positive and the queue wait not negative");
      }
      try {
        return new InferenceServer(this);
      } catch (IOException e) {
        throw new BonestreamException("cannot listen on " + host + ":" + port + ": " + e.getMessage());
      }
    }

    private static void positive(String what, int v) {
      if (v < 1) {
        throw new BonestreamException("the " + what + " must be at least 1, not " + v);
      }
    }
  }
}
