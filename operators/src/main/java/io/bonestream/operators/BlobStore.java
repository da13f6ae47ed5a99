package io.bonestream.operators;

import io.bonestream.engine.peft.PeftExporter;
import io.bonestream.schemas.ClaimCheck;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
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
        .setSha256(sha256(files.weights()))
        .setConfigSha256(sha256(config))
        .build();
  }

  private static void write(FileSystem fs, Path file, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(file, FileSystem.WriteMode.OVERWRITE)) {
      out.write(data);
      out.sync();
    }
  }

  public static String sha256(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
