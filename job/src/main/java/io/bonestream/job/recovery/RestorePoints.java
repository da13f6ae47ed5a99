package io.bonestream.job.recovery;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Finds the checkpoints and savepoints under a job's checkpoint folder, on any Flink file system:
 * retained checkpoints at {@code <dir>/<job id>/chk-<n>/_metadata} (one job id per run) and
 * savepoints at {@code <dir>/savepoints/<name>/_metadata}.
 */
public final class RestorePoints {
  /** Savepoints go to this sub-folder of the checkpoint folder. */
  public static final String SAVEPOINTS = "savepoints";
  private static final String METADATA = "_metadata";

  private RestorePoints() {}

  /** Where a job with checkpoint folder {@code checkpointDir} writes its savepoints. */
  public static String savepointDir(String checkpointDir) {
    return new Path(checkpointDir, SAVEPOINTS).toUri().toString();
  }

  /** Every completed checkpoint and savepoint under {@code checkpointDir}, newest first. */
  public static List<RestorePoint> list(String checkpointDir) {
    List<RestorePoint> found = new ArrayList<>();
    Path root = new Path(checkpointDir);
    try {
      FileSystem fs = root.getFileSystem();
      if (!fs.exists(root)) {
        return found;
      }
      for (FileStatus child : children(fs, root)) {
        if (!child.isDir()) {
          continue;
        }
        String name = child.getPath().getName();
        if (name.equals(SAVEPOINTS)) {
          for (FileStatus sp : children(fs, child.getPath())) {
            point(fs, sp, RestorePoint.Kind.SAVEPOINT, null, found);
          }
        } else if (name.matches("[0-9a-f]{32}")) {
          for (FileStatus chk : children(fs, child.getPath())) {
            if (chk.getPath().getName().matches("chk-[0-9]+")) {
              point(fs, chk, RestorePoint.Kind.CHECKPOINT, name, found);
            }
          }
        }
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot list the checkpoints in " + checkpointDir + ": " + e.getMessage());
    }
    found.sort(Comparator.comparing(RestorePoint::completedAt).thenComparing(RestorePoints::number).reversed());
    return found;
  }

  /** A folder the user named: a checkpoint or savepoint folder, or its {@code _metadata} file. */
  public static RestorePoint at(String pathOrMetadata) {
    Path p = new Path(pathOrMetadata);
    if (p.getName().equals(METADATA)) {
      p = p.getParent();
    }
    try {
      FileSystem fs = p.getFileSystem();
      if (!fs.exists(new Path(p, METADATA))) {
        throw new BonestreamException("no checkpoint or savepoint at " + pathOrMetadata + " (no " + METADATA
            + " file in it)");
      }
      List<RestorePoint> one = new ArrayList<>();
      boolean checkpoint = p.getName().matches("chk-[0-9]+");
      point(fs, fs.getFileStatus(p), checkpoint ? RestorePoint.Kind.CHECKPOINT : RestorePoint.Kind.SAVEPOINT,
          checkpoint && p.getParent() != null ? p.getParent().getName() : null, one);
      return one.get(0);
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + pathOrMetadata + ": " + e.getMessage());
    }
  }

  /**
   * Deletes restore points older than {@code keep} (which is always kept), beyond the newest
   * {@code olderToKeep} of them: a job folder goes once none of its checkpoints is kept. Returns
   * what was deleted.
   */
  public static List<String> prune(String checkpointDir, RestorePoint keep, int olderToKeep) {
    List<RestorePoint> all = list(checkpointDir);
    List<RestorePoint> older = all.stream()
        .filter(p -> p.completedAt().isBefore(keep.completedAt()) && !p.path().equals(keep.path()))
        .toList();
    List<RestorePoint> doomed = older.subList(Math.min(olderToKeep, older.size()), older.size());
    // a checkpoint's job folder also holds shared/ and taskowned/ (incremental checkpoints refer to
    // them): only whole job folders go, once none of their checkpoints stays
    Set<String> jobsInUse = new HashSet<>();
    all.stream().filter(p -> !doomed.contains(p) && p.jobId() != null).forEach(p -> jobsInUse.add(p.jobId()));
    Set<String> deleted = new LinkedHashSet<>();
    try {
      for (RestorePoint p : doomed) {
        Path folder = new Path(p.path());
        if (p.kind() == RestorePoint.Kind.CHECKPOINT) {
          if (jobsInUse.contains(p.jobId())) {
            continue;
          }
          folder = folder.getParent();
        }
        FileSystem fs = folder.getFileSystem();
        if (!deleted.contains(folder.toUri().toString()) && fs.exists(folder)) {
          fs.delete(folder, true);
          deleted.add(folder.toUri().toString());
        }
      }
    } catch (IOException e) {
      throw new BonestreamException("cannot remove old checkpoints in " + checkpointDir + ": " + e.getMessage());
    }
    return List.copyOf(deleted);
  }

  private static FileStatus[] children(FileSystem fs, Path dir) throws IOException {
    try {
      FileStatus[] s = fs.listStatus(dir);
      return s == null ? new FileStatus[0] : s;
    } catch (java.io.FileNotFoundException discarded) {
      return new FileStatus[0]; // removed (a discarded checkpoint, a pruned job) while we looked
    }
  }

  private static void point(FileSystem fs, FileStatus dir, RestorePoint.Kind kind, String jobId,
      List<RestorePoint> into) throws IOException {
    Path metadata = new Path(dir.getPath(), METADATA);
    if (!dir.isDir() || !fs.exists(metadata)) {
      return; // in progress, or not Flink's
    }
    Instant completed;
    try {
      completed = Instant.ofEpochMilli(fs.getFileStatus(metadata).getModificationTime());
    } catch (java.io.FileNotFoundException discarded) {
      return; // Flink discarded it (subsumed) while we looked
    }
    into.add(new RestorePoint(dir.getPath().toUri().toString(), kind, dir.getPath().getName(), jobId, completed));
  }

  private static long number(RestorePoint p) {
    return p.kind() == RestorePoint.Kind.CHECKPOINT ? Long.parseLong(p.name().substring(4)) : 0;
  }
}
