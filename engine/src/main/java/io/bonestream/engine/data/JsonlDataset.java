package io.bonestream.engine.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads a JSONL training file into examples; any bad line stops the read, naming its number. */
public final class JsonlDataset {
  private JsonlDataset() {}

  public static List<Example> read(Path file, RecordParser parser) {
    List<Example> out = new ArrayList<>();
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int number = 0;
      while ((line = in.readLine()) != null) {
        number++;
        if (!line.isBlank()) {
          out.add(parse(line, file + " line " + number, parser));
        }
      }
    } catch (NoSuchFileException e) {
      throw new BonestreamException("data file not found: " + file);
    } catch (java.nio.charset.MalformedInputException e) {
      throw new BonestreamException(file + " is not UTF-8 text");
    } catch (IOException e) {
      throw new BonestreamException("cannot read " + file + ": " + e.getMessage());
    }
    if (out.isEmpty()) {
      throw new BonestreamException(file + " holds no records");
    }
    return out;
  }

  /**
   * Records already read as lines (e.g. carried by a job); a bad one stops the read, named as
   * {@code source} record N.
   */
  public static List<Example> read(List<String> lines, String source, RecordParser parser) {
    List<Example> out = new ArrayList<>(lines.size());
    for (int i = 0; i < lines.size(); i++) {
      if (!lines.get(i).isBlank()) {
        out.add(parse(lines.get(i), source + " record " + (i + 1), parser));
      }
    }
    return out;
  }

  private static Example parse(String line, String where, RecordParser parser) {
    JsonNode node;
    try {
      node = Json.MAPPER.readTree(line);
    } catch (JsonProcessingException e) {
      throw new BonestreamException(where + ": malformed JSON (" + e.getOriginalMessage().split("\n")[0] + ")");
    }
    try {
      return parser.parse(node);
    } catch (BonestreamException e) {
      throw new BonestreamException(where + ": " + e.getMessage());
    }
  }
}
