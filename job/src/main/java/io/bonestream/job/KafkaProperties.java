package io.bonestream.job;

import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Properties;
import org.jspecify.annotations.Nullable;

/** Kafka client properties (TLS, SASL, ...) from a Java properties file. */
public final class KafkaProperties {
  private KafkaProperties() {}

  public static Properties load(@Nullable Path file) {
    Properties p = new Properties();
    if (file == null) {
      return p;
    }
    try (Reader r = Files.newBufferedReader(file)) {
      p.load(r);
    } catch (NoSuchFileException e) {
      throw new BonestreamException("Kafka properties file not found: " + file);
    } catch (IOException | IllegalArgumentException e) {
      throw new BonestreamException("cannot read Kafka properties " + file + ": " + e.getMessage());
    }
    return p;
  }
}
