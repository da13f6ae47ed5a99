package io.bonestream.subscriber;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.safetensors.SafeTensorsReader;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;

/**
 * An emulation of vLLM's runtime LoRA API over real HTTP, written from vLLM's source (main branch:
 * vllm/entrypoints/openai/models/serving.py, vllm/entrypoints/serve/lora/api_router.py and
 * protocol.py, vllm/exceptions.py, vllm/config/lora.py; the older 0.8-era
 * vllm/entrypoints/openai/serving_models.py for a vLLM without load_inplace):
 *
 * <ul>
 *   <li>the two routes exist only with VLLM_ALLOW_RUNTIME_LORA_UPDATING: otherwise FastAPI's 404
 *       {@code {"detail": "Not Found"}};
 *   <li>with {@code --api-key}, every /v1 path needs {@code Authorization: Bearer <key>}, else 401
 *       {@code {"error": "Unauthorized"}};
 *   <li>errors are {@code {"error": {"message", "type", "param", "code"}}} with code = the status;
 *   <li>load: empty name or path → 400 InvalidUserInput "Both 'lora_name' and 'lora_path' must be
 *       provided."; a loaded name without load_inplace → 400 InvalidUserInput "The lora adapter '…'
 *       has already been loaded. …" (an old vLLM ignores load_inplace: always so); no adapter at the
 *       path → 404 NotFoundError "Loading lora … failed: No adapter found for …"; an adapter the
 *       engine cannot load (missing r / lora_alpha / target_modules, rank above max_lora_rank:
 *       "LoRA rank … is greater than max_lora_rank …", weights missing) → 500 InternalServerError;
 *       success → 200, text "Success: LoRA adapter '…' added successfully.", the same LoRA id kept
 *       for an in-place reload;
 *   <li>unload: empty name → 400; an unknown name → 404 NotFoundError "The lora adapter '…' cannot
 *       be found."; success → 200 "Success: LoRA adapter '…' removed successfully.";
 *   <li>GET /v1/models lists the base model and the loaded LoRAs.
 * </ul>
 *
 * It checks more than vLLM on one point: the folder's peft_type must be LORA (vLLM fails on a MiSS
 * folder later, for want of lora_alpha and lora_A/lora_B tensors). It also records the
 * base_model_name_or_path of what it loads, which vLLM's runtime load does not check (its
 * filesystem resolver does: {@link #resolve}).
 */
final class VllmEmulator implements AutoCloseable {
  /** A loaded LoRA: its id, the path as vLLM was given it, and its adapter_config.json. */
  record Lora(int id, String path, JsonNode config) {}

  /** A request as received. */
  record Request(String method, String path, String authorization, JsonNode body) {}

  private final HttpServer server;
  private final Path volume;
  private final String prefix;
  private final String baseModelName;
  private final int maxLoraRank;
  private final boolean runtimeUpdating;
  private final boolean loadInplace;
  private final String apiKey;
  private final Map<String, Lora> loras = new LinkedHashMap<>();
  private final List<Request> requests = new ArrayList<>();
  private final Deque<Integer> failures = new ArrayDeque<>();
  private int ids;

  /**
   * A vLLM serving {@code baseModelName} with {@code --max-lora-rank maxLoraRank}, that sees the
   * folder {@code volume} at the path {@code prefix}; {@code apiKey} null: no --api-key.
   */
  VllmEmulator(int port, Path volume, String prefix, String baseModelName, int maxLoraRank, boolean runtimeUpdating,
      boolean loadInplace, String apiKey) throws IOException {
    this.volume = volume;
    this.prefix = prefix;
    this.baseModelName = baseModelName;
    this.maxLoraRank = maxLoraRank;
    this.runtimeUpdating = runtimeUpdating;
    this.loadInplace = loadInplace;
    this.apiKey = apiKey;
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
    server.createContext("/", this::handle);
    server.setExecutor(Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "vllm-emulator");
      t.setDaemon(true);
      return t;
    }));
    server.start();
  }

  static VllmEmulator start(Path volume, String prefix, String baseModelName, int maxLoraRank) throws IOException {
    return new VllmEmulator(0, volume, prefix, baseModelName, maxLoraRank, true, true, null);
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  int port() {
    return server.getAddress().getPort();
  }

  /** The next answers are these 5xx statuses, before any request is looked at (a server restarting, say). */
  synchronized void failNext(int... statuses) {
    for (int s : statuses) {
      failures.add(s);
    }
  }

  synchronized Map<String, Lora> loras() {
    return Map.copyOf(loras);
  }

  synchronized List<Request> requests() {
    return List.copyOf(requests);
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      byte[] in = ex.getRequestBody().readNBytes(1 << 20);
      String path = ex.getRequestURI().getPath();
      JsonNode body = null;
      try {
        body = in.length == 0 ? null : Json.MAPPER.readTree(in);
      } catch (IOException e) {
        // malformed JSON: FastAPI answers 422 below
      }
      synchronized (this) {
        requests.add(new Request(ex.getRequestMethod(), path, ex.getRequestHeaders().getFirst("Authorization"), body));
        if (!failures.isEmpty()) {
          int s = failures.poll();
          answer(ex, s, "text/plain", "Service Unavailable");
          return;
        }
        if (apiKey != null && path.startsWith("/v1")
            && !("Bearer " + apiKey).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
          json(ex, 401, Json.MAPPER.createObjectNode().put("error", "Unauthorized"));
          return;
        }
        boolean lora = path.equals("/v1/load_lora_adapter") || path.equals("/v1/unload_lora_adapter");
        if (path.equals("/v1/models") && ex.getRequestMethod().equals("GET")) {
          models(ex);
        } else if (!lora || !runtimeUpdating) {
          json(ex, 404, Json.MAPPER.createObjectNode().put("detail", "Not Found"));
        } else if (!ex.getRequestMethod().equals("POST")) {
          json(ex, 405, Json.MAPPER.createObjectNode().put("detail", "Method Not Allowed"));
        } else if (!"application/json".equals(ex.getRequestHeaders().getFirst("Content-Type"))) {
          error(ex, 400, "BadRequestError", "Unsupported Media Type: Only 'application/json' is allowed");
        } else if (body == null || !body.isObject() || !body.path("lora_name").isTextual()
            || path.equals("/v1/load_lora_adapter") && !body.path("lora_path").isTextual()) {
          json(ex, 422, Json.MAPPER.createObjectNode().put("detail", "field required")); // pydantic
        } else if (path.equals("/v1/load_lora_adapter")) {
          load(ex, body.path("lora_name").asText(), body.path("lora_path").asText(),
              loadInplace && body.path("load_inplace").asBoolean(false));
        } else {
          unload(ex, body.path("lora_name").asText());
        }
      }
    }
  }

  private void load(HttpExchange ex, String name, String path, boolean inplace) throws IOException {
    if (name.isEmpty() || path.isEmpty()) {
      error(ex, 400, "InvalidUserInput", "Both 'lora_name' and 'lora_path' must be provided.");
      return;
    }
    if (!inplace && loras.containsKey(name)) {
      error(ex, 400, "InvalidUserInput", loadInplace
          ? "The lora adapter '" + name + "' has already been loaded. If you want to load the adapter in place, "
              + "set 'load_inplace' to True."
          : "The lora adapter '" + name + "' has already been loaded.");
      return;
    }
    Path folder = seen(path);
    if (folder == null || !Files.isRegularFile(folder.resolve(PeftFiles.ADAPTER_CONFIG))) {
      error(ex, 404, "NotFoundError", "Loading lora " + name + " failed: No adapter found for " + path);
      return;
    }
    JsonNode config = Json.readTree(folder.resolve(PeftFiles.ADAPTER_CONFIG));
    String problem = engineProblem(folder, config);
    if (problem != null) {
      error(ex, 500, "InternalServerError", problem);
      return;
    }
    Lora before = loras.get(name);
    loras.put(name, new Lora(before != null ? before.id() : ++ids, path, config));
    answer(ex, 200, null, "Success: LoRA adapter '" + name + "' added successfully.");
  }

  /** What the engine's add_lora would fail on, or null. */
  private String engineProblem(Path folder, JsonNode config) throws IOException {
    List<String> missing = new ArrayList<>();
    for (String f : List.of("r", "lora_alpha", "target_modules")) {
      if (!config.has(f)) {
        missing.add(f);
      }
    }
    if (!missing.isEmpty()) {
      return "Missing required configuration fields: " + missing;
    }
    if (!config.path("peft_type").asText().equals("LORA")) {
      return "peft_type " + config.path("peft_type").asText() + " is not LORA";
    }
    int r = config.path("r").asInt();
    if (r > maxLoraRank) {
      return "LoRA rank " + r + " is greater than max_lora_rank " + maxLoraRank + ".";
    }
    Path weights = folder.resolve(PeftFiles.ADAPTER_WEIGHTS);
    if (!Files.isRegularFile(weights)) {
      return "no " + PeftFiles.ADAPTER_WEIGHTS + " in " + folder;
    }
    return weightsProblem(SafeTensorsReader.readHeader(weights), config);
  }

  /**
   * The tensors vLLM expects of a PEFT LoRA: {@code base_model.model.<module>.lora_A.weight} (r, in)
   * and {@code ….lora_B.weight} (out, r) in pairs, every module one of target_modules.
   */
  static String weightsProblem(Map<String, SafeTensorsReader.Entry> tensors, JsonNode config) {
    int r = config.path("r").asInt();
    Set<String> targets = new java.util.HashSet<>();
    config.path("target_modules").forEach(t -> targets.add(t.asText()));
    if (tensors.isEmpty()) {
      return "no tensors";
    }
    for (var e : tensors.entrySet()) {
      String key = e.getKey();
      if (!key.matches("base_model\\.model\\..+\\.lora_[AB]\\.weight")) {
        return "unexpected key " + key;
      }
      String module = key.substring("base_model.model.".length(), key.length() - ".lora_A.weight".length());
      String leaf = module.substring(module.lastIndexOf('.') + 1);
      if (!targets.contains(leaf)) {
        return key + " is not in target_modules " + targets;
      }
      boolean a = key.endsWith("lora_A.weight");
      String pair = key.substring(0, key.length() - "A.weight".length()) + (a ? "B" : "A") + ".weight";
      if (!tensors.containsKey(pair)) {
        return key + " without " + pair;
      }
      long[] shape = e.getValue().shape();
      if (shape.length != 2 || shape[a ? 0 : 1] != r) {
        return key + " has shape " + java.util.Arrays.toString(shape) + ", not rank " + r;
      }
    }
    return null;
  }

  private void unload(HttpExchange ex, String name) throws IOException {
    if (name.isEmpty()) {
      error(ex, 400, "InvalidUserInput", "'lora_name' needs to be provided to unload a LoRA adapter.");
      return;
    }
    if (!loras.containsKey(name)) {
      error(ex, 404, "NotFoundError", "The lora adapter '" + name + "' cannot be found.");
      return;
    }
    loras.remove(name);
    answer(ex, 200, null, "Success: LoRA adapter '" + name + "' removed successfully.");
  }

  private void models(HttpExchange ex) throws IOException {
    ObjectNode list = Json.MAPPER.createObjectNode().put("object", "list");
    ArrayNode data = list.putArray("data");
    data.addObject().put("id", baseModelName).put("object", "model");
    loras.forEach((name, l) -> data.addObject().put("id", name).put("object", "model").put("root", l.path())
        .put("parent", baseModelName));
    json(ex, 200, list);
  }

  /** The folder vLLM would read for a lora_path: under the prefix, on the shared volume. */
  private Path seen(String path) {
    if (!path.startsWith(prefix + "/")) {
      return null;
    }
    Path p = volume.resolve(path.substring(prefix.length() + 1)).normalize();
    return p.startsWith(volume) && Files.isDirectory(p) ? p : null;
  }

  private static void error(HttpExchange ex, int status, String type, String message) throws IOException {
    ObjectNode e = Json.MAPPER.createObjectNode();
    e.putObject("error").put("message", message).put("type", type).putNull("param").put("code", status);
    json(ex, status, e);
  }

  private static void json(HttpExchange ex, int status, JsonNode body) throws IOException {
    answer(ex, status, "application/json", Json.toCompactString(body));
  }

  private static void answer(HttpExchange ex, int status, String type, String text) throws IOException {
    byte[] b = text.getBytes(StandardCharsets.UTF_8);
    if (type != null) { // vLLM's plain Response(content=...) of a success sets none
      ex.getResponseHeaders().set("Content-Type", type);
    }
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
  }

  /**
   * vLLM's filesystem resolver (vllm/plugins/lora_resolvers/filesystem_resolver.py, main branch):
   * {@code <cache dir>/<name>} after resolving links, refused if the name is absolute or leads out of
   * the cache dir; a LoRA only if its adapter_config.json has peft_type LORA and
   * base_model_name_or_path equal to {@code baseModelName}, which vLLM passes as its
   * {@code model_config.model} (the --model value, not --served-model-name; serving.py's
   * resolve_lora). The path it would load, or null.
   */
  static Path resolve(Path cacheDir, String baseModelName, String loraName) throws IOException {
    if (Path.of(loraName).isAbsolute()) {
      return null;
    }
    Path root = cacheDir.toRealPath();
    Path p = root.resolve(loraName);
    if (!Files.exists(p)) {
      return null;
    }
    p = p.toRealPath();
    if (!p.startsWith(root)) {
      return null;
    }
    Path config = p.resolve("adapter_config.json");
    if (!Files.exists(config, LinkOption.NOFOLLOW_LINKS) && !Files.exists(config)) {
      return null;
    }
    JsonNode c = Json.readTree(config);
    return c.path("peft_type").asText().equals("LORA") && c.path("base_model_name_or_path").asText().equals(baseModelName)
        ? p : null;
  }
}
