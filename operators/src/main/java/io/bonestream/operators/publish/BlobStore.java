package io.bonestream.operators.publish;

import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFiles;
import io.bonestream.core.util.Hashes;
import io.bonestream.schemas.AdapterIds;
import io.bonestream.schemas.ClaimCheck;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Writes adapter folders to any Flink file system ({@code file://} locally, {@code s3://} in
 * production) at {@code <root>/<adapter id>/<version>/}. Paths come only from validated ids and
 * version numbers. Writing a version again (a replay after a failure) writes the same bytes.
 */
public final class BlobStore {
  private BlobStore() {}

  public static ClaimCheck write(String rootUri, String adapterId, long version, PeftExport.AdapterFiles files) {
    if (!AdapterIds.isValid(adapterId) || version <= 0) {
      throw new IllegalArgumentException("invalid blob path: " + adapterId + "@" + version);
    }
    Path dir = new Path(new Path(rootUri, adapterId), Long.toString(version));
    byte[] config = files.configJson().getBytes(StandardCharsets.UTF_8);
    try {
      FileSystem fs = dir.getFileSystem();
      fs.mkdirs(dir);
      write(fs, new Path(dir, PeftFiles.ADAPTER_WEIGHTS), files.weights());
      write(fs, new Path(dir, PeftFiles.ADAPTER_CONFIG), config);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write adapter " + adapterId + "@" + version + " to " + dir, e);
    }
    return ClaimCheck.newBuilder()
        .setUri(dir.toUri().toString())
        .setSize(files.weights().length)
        .setSha256(Hashes.sha256Hex(files.weights()))
        .setConfigSha256(Hashes.sha256Hex(config))
        .build();
  }

  /** A PEFT adapter folder's two files. */
  public record AdapterBlob(String configJson, byte[] weights) {}

  /** The adapter folder a claim check points at, checked against its SHA-256 sums. */
  public static AdapterBlob read(ClaimCheck claim) {
    Path dir = new Path(claim.getUri());
    try {
      FileSystem fs = dir.getFileSystem();
      byte[] weights = read(fs, new Path(dir, PeftFiles.ADAPTER_WEIGHTS));
      byte[] config = read(fs, new Path(dir, PeftFiles.ADAPTER_CONFIG));
      if (weights.length != claim.getSize() || !Hashes.sha256Hex(weights).equals(claim.getSha256())
          || !Hashes.sha256Hex(config).equals(claim.getConfigSha256())) {
        throw new IllegalStateException("the blob at " + dir + " does not match its claim check's SHA-256");
      }
      return new AdapterBlob(new String(config, StandardCharsets.UTF_8), weights);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the adapter blob at " + dir, e);
    }
  }

  /**
   * Removes the version folders of an adapter numbered above {@code version}: blobs written for
   * manifests whose transactions never committed (the job failed or stopped before). No committed
   * manifest can point at them, because versions above the adapter's current one were never
   * published. Returns the folders removed.
   */
  public static List<String> removeVersionsAbove(String rootUri, String adapterId, long version) {
    if (!AdapterIds.isValid(adapterId)) {
      throw new IllegalArgumentException("invalid adapter id: " + adapterId);
    }
    Path dir = new Path(rootUri, adapterId);
    List<String> removed = new ArrayList<>();
    try {
      FileSystem fs = dir.getFileSystem();
      if (!fs.exists(dir)) {
        return removed;
      }
      FileStatus[] entries = fs.listStatus(dir);
      for (FileStatus s : entries == null ? new FileStatus[0] : entries) {
        String name = s.getPath().getName();
        if (s.isDir() && name.matches("[0-9]{1,18}") && Long.parseLong(name) > version) {
          fs.delete(s.getPath(), true);
          removed.add(s.getPath().toUri().toString());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list or clean the blobs of " + adapterId + " in " + dir, e);
    }
    return removed;
  }

  private static byte[] read(FileSystem fs, Path file) throws IOException {
    try (FSDataInputStream in = fs.open(file)) {
      return in.readAllBytes();
    }
  }

  private static void write(FileSystem fs, Path file, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
      out.write(data);
      out.sync();
    }
  }

}
