package io.bonestream.job.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Finding and pruning restore points in a checkpoint folder laid out as Flink writes it. */
class RestorePointsTest {
  @TempDir Path dir;

  private static final String JOB_A = "a".repeat(32);
  private static final String JOB_B = "b".repeat(32);

  private Path point(String relative, long minute) throws Exception {
    Path p = dir.resolve(relative);
    Files.createDirectories(p);
    Path meta = p.resolve("_metadata");
    Files.writeString(meta, "x");
    Files.setLastModifiedTime(meta, FileTime.fromMillis(1_700_000_000_000L + minute * 60_000));
    return p;
  }

  @Test
  void newestFirstAcrossJobsAndSavepointsIgnoringUnfinishedOnes() throws Exception {
    point(JOB_A + "/chk-3", 1);
    point(JOB_A + "/chk-4", 2);
    point("savepoints/savepoint-aaaaaa-1", 3);
    point(JOB_B + "/chk-5", 4);
    Files.createDirectories(dir.resolve(JOB_B + "/chk-6")); // being written: no _metadata yet
    Files.createDirectories(dir.resolve(JOB_B + "/shared"));
    Files.writeString(dir.resolve("bonestream-job.json"), "{}");
    List<RestorePoint> points = RestorePoints.list(dir.toUri().toString());
    assertEquals(List.of("chk-5", "savepoint-aaaaaa-1", "chk-4", "chk-3"),
        points.stream().map(RestorePoint::name).toList());
    assertEquals(JOB_B, points.get(0).jobId());
    assertEquals(RestorePoint.Kind.SAVEPOINT, points.get(1).kind());
    assertEquals("checkpoint chk-5 of job " + JOB_B, points.get(0).describe());
  }

  @Test
  void aNamedFolderOrItsMetadataFileIsARestorePoint() throws Exception {
    Path chk = point(JOB_A + "/chk-7", 1);
    assertEquals("chk-7", RestorePoints.at(chk.toString()).name());
    assertEquals(JOB_A, RestorePoints.at(chk.resolve("_metadata").toString()).jobId());
  }

  @Test
  void pruningKeepsTheRestoredPointTwoOlderOnesAndEveryNewerOne() throws Exception {
    point(JOB_A + "/chk-1", 1);
    point("savepoints/savepoint-1", 2);
    point("savepoints/savepoint-2", 3);
    point(JOB_B + "/chk-8", 4);
    point("savepoints/savepoint-3", 5);
    point(JOB_B + "/chk-9", 6);
    RestorePoint restored = RestorePoints.list(dir.toUri().toString()).stream()
        .filter(p -> p.name().equals("savepoint-3")).findFirst().orElseThrow();
    List<String> deleted = RestorePoints.prune(dir.toUri().toString(), restored, 2);
    // kept: savepoint-3 (restored), chk-8 and savepoint-2 (the two older), chk-9 (newer)
    assertEquals(List.of("chk-9", "savepoint-3", "chk-8", "savepoint-2"),
        RestorePoints.list(dir.toUri().toString()).stream().map(RestorePoint::name).toList());
    assertEquals(2, deleted.size(), deleted.toString());
    assertFalse(Files.exists(dir.resolve(JOB_A)), "a job folder goes with its last checkpoint");
    assertTrue(Files.exists(dir.resolve(JOB_B)));
  }

  @Test
  void aJobFolderStaysWhileOneOfItsCheckpointsIsKept() throws Exception {
    point(JOB_A + "/chk-1", 1);
    point(JOB_A + "/chk-2", 5);
    point("savepoints/savepoint-1", 2);
    point("savepoints/savepoint-2", 3);
    point("savepoints/savepoint-3", 4);
    RestorePoint restored = RestorePoints.list(dir.toUri().toString()).get(0); // chk-2
    RestorePoints.prune(dir.toUri().toString(), restored, 1);
    assertTrue(Files.exists(dir.resolve(JOB_A + "/chk-1")), "chk-1 shares its job folder with the restored chk-2");
    assertEquals(List.of("chk-2", "savepoint-3", "chk-1"),
        RestorePoints.list(dir.toUri().toString()).stream().map(RestorePoint::name).toList());
  }
}
