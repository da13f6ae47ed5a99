package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** YAML documents as Jackson trees. */
final class Yaml {
  static final ObjectMapper MAPPER = new ObjectMapper(new YAMLFactory());

  private Yaml() {}

  /** Every document of a (multi-document) YAML text; empty documents are skipped. */
  static List<JsonNode> documents(String text) {
    List<JsonNode> docs = new ArrayList<>();
    try (MappingIterator<JsonNode> it = MAPPER.readerFor(JsonNode.class).readValues(text)) {
      while (it.hasNextValue()) {
        JsonNode n = it.nextValue();
        if (n != null && !n.isNull() && !n.isMissingNode()) {
          docs.add(n);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return docs;
  }

  /** Every document, each a Kubernetes object (a mapping with apiVersion, kind and metadata.name). */
  static List<ObjectNode> objects(String text) {
    List<ObjectNode> out = new ArrayList<>();
    for (JsonNode d : documents(text)) {
      if (!d.isObject() || !d.path("apiVersion").isTextual() || !d.path("kind").isTextual()
          || !d.path("metadata").path("name").isTextual()) {
        throw new AssertionError("not a Kubernetes object (apiVersion, kind, metadata.name): " + d);
      }
      out.add((ObjectNode) d);
    }
    return out;
  }

  static List<JsonNode> documents(Path file) {
    try {
      return documents(Files.readString(file));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static JsonNode read(String text) {
    try {
      return MAPPER.readTree(text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
