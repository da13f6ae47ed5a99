package io.bonestream.core.util;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.bonestream.core.BonestreamException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** The one JSON mapper of the engine, and file helpers that fail with one-line messages. */
public final class Json {
  public static final ObjectMapper MAPPER =
      new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private Json() {}

  public static JsonNode readTree(Path file) {
    try {
      return MAPPER.readTree(Files.readString(file));
    } catch (NoSuchFileException e) {
      throw new BonestreamException("file not found: " + file);
    } catch (JsonProcessingException e) {
      throw new BonestreamException(
          "invalid JSON in " + file + ": " + e.getOriginalMessage().split("\n")[0]);
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
  }

  public static void write(Path file, Object value) {
    try {
      Files.writeString(file, MAPPER.writeValueAsString(value) + "\n");
    } catch (IOException e) {
      throw new BonestreamException("cannot write " + file + ": " + e.getMessage());
    }
  }

  public static String toCompactString(Object value) {
    try {
      return new ObjectMapper().writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
