package io.bonestream.operators;

import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.engine.util.Hashes;
import io.bonestream.schemas.ClaimCheck;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Writes adapter folders to any Flink file system ({@code file://} locally, {@code s3://} in
 * production) at {@code <root>/<adapter id>/<version>/}. Paths come only from validated ids and
 * version numbers. Writing a version again (a replay after a failure) writes the same bytes.
 */
public final class BlobStore {
  private BlobStore() {}

  public static ClaimCheck write(String rootUri, String adapterId, long version, PeftExporter.AdapterFiles files) {
    if (!AdapterIds.isValid(adapterId) || version <= 0) {
      throw new IllegalArgumentException("invalid blob path: " + adapterId + "@" + version);
    }
    Path dir = new Path(new Path(rootUri, adapterId), Long.toString(version));
    byte[] config = files.configJson().getBytes(StandardCharsets.UTF_8);
    try {
      FileSystem fs = dir.getFileSystem();
      fs.mkdirs(dir);
      write(fs, new Path(dir, PeftExporter.ADAPTER_WEIGHTS), files.weights());
      write(fs, new Path(dir, PeftExporter.ADAPTER_CONFIG), config);
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

  private static void write(FileSystem fs, Path file, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
      out.write(data);
      out.sync();
    }
  }

}
