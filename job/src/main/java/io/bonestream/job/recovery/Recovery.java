package io.bonestream.job.recovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import io.bonestream.operators.StreamingJob;
import io.bonestream.operators.train.AdapterStateSummary;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.jspecify.annotations.Nullable;

/**
 * Decides where a job starts from: the newest completed checkpoint or savepoint under its
 * checkpoint folder (by default), one the user named ({@code --from-savepoint}), or no state at all
 * ({@code --fresh}, or a first start). Before a restore it reads what the checkpoint holds and
 * refuses one the new settings cannot continue: adapters trained on another base model, or source
 * offsets of another instructions topic.
 */
public final class Recovery {
  /** Restore points kept besides the one restored; older ones are deleted on start. */
  public static final int OLDER_RESTORE_POINTS_KEPT = 2;
  /** The settings of the job that last used a checkpoint folder, for the compatibility check. */
  static final String JOB_FILE = "bonestream-job.json";

  /** Where to start, what it holds, and what to tell the user. */
  public record Plan(@Nullable RestorePoint point, List<AdapterStateSummary> adapters, List<String> report) {
    public boolean restores() {
      return point != null;
    }
  }

  private Recovery() {}

  /**
   * @param fromSavepoint an explicit checkpoint or savepoint folder, or null
   * @param fresh start without state even when checkpoints exist
   * @param stateBackend the job's {@code state.backend.type}
   */
  public static Plan plan(StreamingJob job, String checkpointDir, @Nullable String fromSavepoint, boolean fresh,
      String stateBackend) {
    if (fresh && fromSavepoint != null) {
      throw new BonestreamException("--fresh and --from-savepoint exclude each other");
    }
    List<String> report = new ArrayList<>();
    if (fresh) {
      int existing = RestorePoints.list(checkpointDir).size();
      report.add("--fresh: starting without Flink state" + (existing == 0 ? "" : " (the " + existing
          + " checkpoints and savepoints in " + checkpointDir + " stay as they are)")
          + "; adapters with published versions continue from their newest one, with a fresh optimizer");
      recordJob(job, checkpointDir);
      return new Plan(null, List.of(), report);
    }
    List<RestorePoint> candidates = fromSavepoint != null
        ? List.of(RestorePoints.at(fromSavepoint)) : RestorePoints.list(checkpointDir);
    if (candidates.isEmpty()) {
      report.add("no checkpoint or savepoint in " + checkpointDir + ": starting without state");
      recordJob(job, checkpointDir);
      return new Plan(null, List.of(), report);
    }
    checkSameSource(job, checkpointDir);
    List<String> unreadable = new ArrayList<>();
    for (RestorePoint p : candidates) {
      List<AdapterStateSummary> adapters;
      try {
        adapters = StateInspector.adapters(p, stateBackend);
      } catch (BonestreamException e) {
        if (fromSavepoint != null) {
          throw e;
        }
        unreadable.add(e.getMessage());
        continue;
      }
      checkBaseModel(job, p, adapters);
      unreadable.forEach(u -> report.add("skipped: " + u));
      report.add("restoring " + p.describe() + " (completed " + p.completedAt() + ")");
      report.add("  " + describe(adapters));
      recordJob(job, checkpointDir);
      return new Plan(p, adapters, report);
    }
    throw new BonestreamException("none of the " + candidates.size() + " checkpoints in " + checkpointDir
        + " can be read (newest: " + unreadable.get(0) + "); name one with --from-savepoint PATH, or start"
        + " over with --fresh");
  }

  /** "3 adapters: a1 v32 (step 64), ..." (at most 20 named). */
  static String describe(List<AdapterStateSummary> adapters) {
    if (adapters.isEmpty()) {
      return "no adapters yet";
    }
    StringBuilder b = new StringBuilder(adapters.size() + (adapters.size() == 1 ? " adapter: " : " adapters: "));
    int shown = Math.min(20, adapters.size());
    for (int i = 0; i < shown; i++) {
      AdapterStateSummary a = adapters.get(i);
      b.append(i == 0 ? "" : ", ").append(a.adapterId()).append(" v").append(a.version())
          .append(a.step() < 0 ? " (no step yet" : " (step " + a.step());
      b.append(a.bufferedExamples() > 0 ? ", " + a.bufferedExamples() + " buffered)" : ")");
    }
    if (shown < adapters.size()) {
      b.append(String.format(Locale.ROOT, " and %d more", adapters.size() - shown));
    }
    return b.toString();
  }

  private static void checkBaseModel(StreamingJob job, RestorePoint p, List<AdapterStateSummary> adapters) {
    Map<String, List<String>> byModel = new TreeMap<>();
    for (AdapterStateSummary a : adapters) {
      if (a.baseFingerprint() != null && !a.baseFingerprint().equals(job.baseModelFingerprint())) {
        byModel.computeIfAbsent(a.baseFingerprint(), k -> new ArrayList<>()).add(a.adapterId());
      }
    }
    if (!byModel.isEmpty()) {
      Map.Entry<String, List<String>> e = byModel.entrySet().iterator().next();
      throw new BonestreamException(p.describe() + " holds adapters trained on base model " + shortHash(e.getKey())
          + " (" + String.join(", ", e.getValue().subList(0, Math.min(5, e.getValue().size())))
          + (e.getValue().size() > 5 ? ", ..." : "") + "), but the configured model " + job.modelDir()
          + " is " + shortHash(job.baseModelFingerprint()) + "; point `model` at the model they were trained on,"
          + " or start over with --fresh");
    }
  }

  /** The source's offsets in a checkpoint belong to the instructions topic it was reading. */
  private static void checkSameSource(StreamingJob job, String checkpointDir) {
    JsonNode last = readJob(checkpointDir);
    if (last == null) {
      return;
    }
    String topic = last.path("instructions_topic").asText(null);
    if (topic != null && !topic.equals(job.instructionsTopic())) {
      throw new BonestreamException("the checkpoints in " + checkpointDir + " read the instructions topic '" + topic
          + "', but the job now reads '" + job.instructionsTopic() + "'; use another checkpoint folder for a"
          + " new topic, or start over with --fresh");
    }
  }

  private static @Nullable JsonNode readJob(String checkpointDir) {
    Path file = new Path(checkpointDir, JOB_FILE);
    try {
      FileSystem fs = file.getFileSystem();
      if (!fs.exists(file)) {
        return null;
      }
      try (FSDataInputStream in = fs.open(file)) {
        return Json.MAPPER.readTree(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
  }

  private static void recordJob(StreamingJob job, String checkpointDir) {
    ObjectNode n = Json.MAPPER.createObjectNode();
    n.put("instructions_topic", job.instructionsTopic());
    n.put("adapters_topic", job.adaptersTopic());
    n.put("model", job.modelDir());
    n.put("base_model_fingerprint", job.baseModelFingerprint());
    Path file = new Path(checkpointDir, JOB_FILE);
    try {
      FileSystem fs = file.getFileSystem();
      fs.mkdirs(file.getParent());
      try (OutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
        out.write(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(n));
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
  }

  private static String shortHash(String h) {
    return h.length() > 12 ? h.substring(0, 12) : h;
  }
}
