package io.bonestream.job.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.apache.flink.api.common.JobStatus;
import org.jspecify.annotations.Nullable;

/**
 * A client of a Flink JobManager's REST API, for what {@code flink run}, {@code flink stop} and the
 * web UI do with a session cluster: upload a jar and run it, follow a job, stop it with a savepoint,
 * read its checkpoints, cancel it. Every failure is a {@link BonestreamException} that names the
 * request and Flink's first error line.
 */
public final class FlinkRestClient {
  private final URI base;
  private final Duration requestTimeout;
  private final Duration pollInterval;
  private final HttpClient http;

  private FlinkRestClient(Builder b) {
    this.base = b.base;
    this.requestTimeout = b.requestTimeout;
    this.pollInterval = b.pollInterval;
    this.http = HttpClient.newBuilder().connectTimeout(b.requestTimeout).build();
  }

  public static Builder builder() {
    return new Builder();
  }

  public URI baseUri() {
    return base;
  }

  /** Uploads an application jar; returns its id on the cluster. */
  public String uploadJar(Path jar) {
    if (!Files.isRegularFile(jar)) {
      throw new BonestreamException("jar not found: " + jar);
    }
    String boundary = "bonestream-" + UUID.randomUUID();
    String head = "--" + boundary + "\r\n"
        + "Content-Disposition: form-data; name=\"jarfile\"; filename=\"" + jar.getFileName() + "\"\r\n"
        + "Content-Type: application/x-java-archive\r\n\r\n";
    HttpRequest.BodyPublisher body;
    try {
      body = BodyPublishers.concat(BodyPublishers.ofString(head), BodyPublishers.ofFile(jar),
          BodyPublishers.ofString("\r\n--" + boundary + "--\r\n"));
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + jar + ": " + e.getMessage());
    }
    JsonNode r = send(request("/jars/upload").timeout(requestTimeout.multipliedBy(10))
        .header("Content-Type", "multipart/form-data; boundary=" + boundary).POST(body).build());
    String file = r.path("filename").asText();
    if (!"success".equals(r.path("status").asText()) || file.isEmpty()) {
      throw new BonestreamException("Flink refused the jar " + jar + ": " + r);
    }
    return Path.of(file).getFileName().toString();
  }

  /** Runs an uploaded jar's main method on the JobManager; returns the job id it submitted. */
  public String runJar(String jarId, JarRun run) {
    ObjectNode body = Json.MAPPER.createObjectNode();
    run.programArgs().forEach(body.putArray("programArgsList")::add);
    if (run.parallelism() != null) {
      body.put("parallelism", run.parallelism());
    }
    if (run.savepointPath() != null) {
      body.put("savepointPath", run.savepointPath());
      body.put("allowNonRestoredState", run.allowNonRestoredState());
    }
    if (run.entryClass() != null) {
      body.put("entryClass", run.entryClass());
    }
    // building the job graph loads the model and validates the config: give it time
    JsonNode r = send(post("/jars/" + jarId + "/run", body).timeout(requestTimeout.multipliedBy(4)).build());
    return text(r, "jobid");
  }

  public void deleteJar(String jarId) {
    send(request("/jars/" + jarId).DELETE().build());
  }

  public JobStatus jobStatus(String jobId) {
    return JobStatus.valueOf(text(send(request("/jobs/" + jobId).GET().build()), "state"));
  }

  /** Polls until the job is in one of {@code states}; fails early when it ends in another. */
  public JobStatus awaitStatus(String jobId, Set<JobStatus> states, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      JobStatus s = jobStatus(jobId);
      if (states.contains(s)) {
        return s;
      }
      if (s.isGloballyTerminalState()) {
        throw new BonestreamException("job " + jobId + " is " + s + ", expected " + states);
      }
      if (System.nanoTime() > deadline) {
        throw new BonestreamException("job " + jobId + " still " + s + " after " + timeout.toSeconds()
            + " s, expected " + states);
      }
      sleep();
    }
  }

  /**
   * Triggers a stop with a savepoint ({@code POST /jobs/:id/stop}, no drain) into
   * {@code targetDirectory}, or the cluster's default savepoint folder when null; returns the
   * trigger id for {@link #savepointStatus}.
   */
  public String triggerStopWithSavepoint(String jobId, @Nullable String targetDirectory) {
    ObjectNode body = Json.MAPPER.createObjectNode();
    if (targetDirectory != null) {
      body.put("targetDirectory", targetDirectory);
    }
    body.put("drain", false);
    return text(send(post("/jobs/" + jobId + "/stop", body).build()), "request-id");
  }

  /** The outcome of a savepoint or stop-with-savepoint trigger. */
  public record SavepointStatus(boolean completed, @Nullable String location, @Nullable String failure) {}

  public SavepointStatus savepointStatus(String jobId, String triggerId) {
    JsonNode r = send(request("/jobs/" + jobId + "/savepoints/" + triggerId).GET().build());
    if (!"COMPLETED".equals(r.path("status").path("id").asText())) {
      return new SavepointStatus(false, null, null);
    }
    JsonNode op = r.path("operation");
    String location = op.hasNonNull("location") ? op.get("location").asText() : null;
    // a failure is Flink's serialized exception: its stack trace starts with "Class: message"
    String failure = op.hasNonNull("failure-cause")
        ? firstLine(op.get("failure-cause").path("stack-trace").asText(op.get("failure-cause").toString())) : null;
    return new SavepointStatus(true, location, failure);
  }

  /** Stops the job with a savepoint and waits for it; returns the savepoint's location. */
  public String stopWithSavepoint(String jobId, @Nullable String targetDirectory, Duration timeout) {
    String trigger = triggerStopWithSavepoint(jobId, targetDirectory);
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      SavepointStatus s = savepointStatus(jobId, trigger);
      if (s.completed()) {
        if (s.location() == null) {
          throw new BonestreamException("stop with savepoint of job " + jobId + " failed: " + s.failure());
        }
        return s.location();
      }
      if (System.nanoTime() > deadline) {
        throw new BonestreamException("stop with savepoint of job " + jobId + " did not finish in "
            + timeout.toSeconds() + " s");
      }
      sleep();
    }
  }

  public CheckpointStats checkpoints(String jobId) {
    JsonNode r = send(request("/jobs/" + jobId + "/checkpoints").GET().build());
    JsonNode counts = r.path("counts");
    JsonNode latest = r.path("latest");
    JsonNode completed = latest.path("completed");
    return new CheckpointStats(counts.path("completed").asLong(), counts.path("failed").asLong(),
        counts.path("in_progress").asLong(),
        completed.hasNonNull("id") ? completed.get("id").asLong() : null,
        textOrNull(completed, "external_path"),
        textOrNull(latest.path("savepoint"), "external_path"),
        textOrNull(latest.path("restored"), "external_path"));
  }

  /** Cancels the job ({@code PATCH /jobs/:id?mode=cancel}); retained checkpoints stay. */
  public void cancel(String jobId) {
    send(request("/jobs/" + jobId + "?mode=cancel").method("PATCH", BodyPublishers.noBody()).build());
  }

  /** A TaskManager registered with the JobManager. */
  public record TaskManager(String id, int slots, int freeSlots) {}

  public List<TaskManager> taskManagers() {
    List<TaskManager> out = new ArrayList<>();
    for (JsonNode t : send(request("/taskmanagers").GET().build()).path("taskmanagers")) {
      out.add(new TaskManager(t.path("id").asText(), t.path("slotsNumber").asInt(), t.path("freeSlots").asInt()));
    }
    return out;
  }

  /** A parallel instance of an operator: its index, status and the TaskManager it runs on. */
  public record Subtask(int index, String status, String taskManagerId) {}

  /** The subtasks of the job's operator chain whose name starts with {@code vertexNamePrefix}. */
  public List<Subtask> subtasks(String jobId, String vertexNamePrefix) {
    for (JsonNode v : send(request("/jobs/" + jobId).GET().build()).path("vertices")) {
      if (v.path("name").asText().startsWith(vertexNamePrefix)) {
        List<Subtask> out = new ArrayList<>();
        for (JsonNode t : send(request("/jobs/" + jobId + "/vertices/" + v.path("id").asText()).GET().build())
            .path("subtasks")) {
          out.add(new Subtask(t.path("subtask").asInt(), t.path("status").asText(),
              t.path("taskmanager-id").asText()));
        }
        return out;
      }
    }
    throw new BonestreamException("job " + jobId + " has no operator named " + vertexNamePrefix + "...");
  }

  private HttpRequest.Builder request(String path) {
    // relative to the base, which may have a path of its own (a proxy's prefix)
    return HttpRequest.newBuilder(base.resolve(path.substring(1))).timeout(requestTimeout)
        .header("Accept", "application/json");
  }

  private HttpRequest.Builder post(String path, JsonNode body) {
    return request(path).header("Content-Type", "application/json")
        .POST(BodyPublishers.ofString(Json.toCompactString(body)));
  }

  private JsonNode send(HttpRequest req) {
    String what = req.method() + " " + req.uri().getPath();
    HttpResponse<String> res;
    try {
      res = http.send(req, HttpResponse.BodyHandlers.ofString());
    } catch (ConnectException e) {
      throw new BonestreamException("no Flink JobManager answers at " + base + " (" + what + ")");
    } catch (IOException e) {
      throw new BonestreamException("Flink REST " + what + " failed: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BonestreamException("interrupted during Flink REST " + what);
    }
    JsonNode body;
    try {
      body = res.body().isBlank() ? Json.MAPPER.createObjectNode() : Json.MAPPER.readTree(res.body());
    } catch (IOException e) {
      throw new BonestreamException("Flink REST " + what + ": HTTP " + res.statusCode() + ", not JSON: "
          + firstLine(res.body()));
    }
    if (res.statusCode() >= 300) {
      throw new BonestreamException("Flink REST " + what + ": HTTP " + res.statusCode() + ": " + errorText(body));
    }
    return body;
  }

  /**
   * Flink's errors are a message and, for a server error, a stack trace: the message and the
   * innermost cause (e.g. why the program's main method failed).
   */
  private static String errorText(JsonNode body) {
    JsonNode errors = body.path("errors");
    if (!errors.isArray() || errors.isEmpty()) {
      return firstLine(body.toString());
    }
    String message = firstLine(errors.get(0).asText());
    String rootCause = null;
    for (JsonNode e : errors) {
      for (String line : e.asText().split("\n")) {
        if (line.startsWith("Caused by: ")) {
          rootCause = line.substring("Caused by: ".length()).strip();
        }
      }
    }
    return rootCause == null ? message : message + " (" + rootCause + ")";
  }

  private static String firstLine(String s) {
    String t = s.strip();
    int nl = t.indexOf('\n');
    return nl < 0 ? t : t.substring(0, nl);
  }

  private static String text(JsonNode n, String field) {
    if (!n.hasNonNull(field)) {
      throw new BonestreamException("Flink REST answer without " + field + ": " + n);
    }
    return n.get(field).asText();
  }

  private static @Nullable String textOrNull(JsonNode n, String field) {
    return n.hasNonNull(field) ? n.get(field).asText() : null;
  }

  private void sleep() {
    try {
      Thread.sleep(pollInterval.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new BonestreamException("interrupted while waiting for Flink");
    }
  }

  /** Settings of the client; {@link #build()} validates them. */
  public static final class Builder {
    private URI base;
    private Duration requestTimeout = Duration.ofSeconds(30);
    private Duration pollInterval = Duration.ofMillis(250);

    /** The JobManager's REST address, e.g. {@code http://localhost:8081}. */
    public Builder baseUri(String v) {
      try {
        base = URI.create(v.endsWith("/") ? v : v + "/");
      } catch (IllegalArgumentException e) {
        throw new BonestreamException("not a URL: " + v);
      }
      return this;
    }

    public Builder requestTimeout(Duration v) { requestTimeout = v; return this; }
    public Builder pollInterval(Duration v) { pollInterval = v; return this; }

    public FlinkRestClient build() {
      if (base == null) {
        throw new BonestreamException("the Flink REST client needs the JobManager's address");
      }
      if (!"http".equals(base.getScheme()) && !"https".equals(base.getScheme()) || base.getHost() == null) {
        throw new BonestreamException("the JobManager's address must be http://host:port or https://host:port, got "
            + base);
      }
      if (requestTimeout.isNegative() || requestTimeout.isZero() || pollInterval.isNegative()
          || pollInterval.isZero()) {
        throw new BonestreamException("timeouts and the poll interval must be positive");
      }
      return new FlinkRestClient(this);
    }
  }
}
