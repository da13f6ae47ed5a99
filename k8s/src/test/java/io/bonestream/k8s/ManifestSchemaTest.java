package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every manifest parses, both overlays render, and every rendered object fits its real schema. */
class ManifestSchemaTest {

  static List<String> overlays() {
    return Kustomize.OVERLAYS;
  }

  @Test
  void everyYamlFileUnderK8sParses() throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.walk(Repo.k8s())) {
      files = s.filter(p -> !p.startsWith(Repo.k8s().resolve("target")))
          .filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
          .sorted().toList();
    }
    assertTrue(files.size() >= 10, "found only " + files);
    for (Path f : files) {
      List<JsonNode> docs = Yaml.documents(f);
      assertFalse(docs.isEmpty(), f + " holds no document");
    }
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void overlayRendersTheExpectedObjects(String overlay) {
    Map<String, Integer> kinds = new TreeMap<>();
    for (ObjectNode o : Kustomize.overlay(overlay)) {
      kinds.merge(o.path("kind").asText(), 1, Integer::sum);
    }
    assertEquals(Map.of("ConfigMap", 3, "Deployment", 1, "FlinkDeployment", 1, "KafkaTopic", 5, "KafkaUser", 4,
        "NetworkPolicy", 2, "PodMonitor", 1, "PrometheusRule", 1, "Service", 1, "ServiceMonitor", 1), kinds);
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void everyRenderedObjectFitsItsSchema(String overlay) {
    List<String> problems = new ArrayList<>();
    for (ObjectNode o : Kustomize.overlay(overlay)) {
      problems.addAll(Schemas.problems(o));
    }
    assertEquals(List.of(), problems);
  }

  /** For every kind: a field its schema does not have, one level under spec (or data), is refused. */
  @ParameterizedTest
  @ValueSource(strings = {"ConfigMap", "Service", "Deployment", "FlinkDeployment", "KafkaTopic", "KafkaUser",
      "NetworkPolicy", "PodMonitor", "ServiceMonitor", "PrometheusRule"})
  void anUnknownFieldIsRefusedInEveryKind(String kind) {
    ObjectNode o = first(kind);
    ObjectNode target = (ObjectNode) (o.has("spec") ? o.get("spec") : o);
    target.put("replicaz", 2);
    List<String> problems = Schemas.problems(o);
    assertFalse(problems.isEmpty(), kind + ": an unknown field passed");
    assertTrue(problems.toString().contains("replicaz"), problems.toString());
  }

  @Test
  void anUnknownFieldDeepInAPodTemplateIsRefused() {
    ObjectNode d = first("Deployment");
    ((ObjectNode) d.at("/spec/template/spec/containers/0/readinessProbe")).put("pathh", "/readyz");
    assertTrue(Schemas.problems(d).toString().contains("pathh"), Schemas.problems(d).toString());

    ObjectNode f = first("FlinkDeployment");
    ((ObjectNode) f.at("/spec/podTemplate/spec/containers/0")).put("volumeMount", "x");
    assertTrue(Schemas.problems(f).toString().contains("volumeMount"), Schemas.problems(f).toString());

    ObjectNode j = first("FlinkDeployment");
    ((ObjectNode) j.at("/spec/job")).put("upgradeMod", "savepoint");
    assertTrue(Schemas.problems(j).toString().contains("upgradeMod"), Schemas.problems(j).toString());

    ObjectNode m = first("PodMonitor");
    ((ObjectNode) m.at("/spec/podMetricsEndpoints/0")).put("prot", "metrics");
    assertTrue(Schemas.problems(m).toString().contains("prot"), Schemas.problems(m).toString());
  }

  @Test
  void wrongTypesAndWrongValuesAreRefused() {
    ObjectNode d = first("Deployment");
    ((ObjectNode) d.at("/spec/template/spec/containers/0")).putArray("env").addObject()
        .put("name", "OMP_NUM_THREADS").put("value", 1);
    assertFalse(Schemas.problems(d).isEmpty(), "a number as an env value passed");

    ObjectNode s = first("Service");
    ((ObjectNode) s.at("/spec/ports/0")).put("port", "eight thousand");
    assertFalse(Schemas.problems(s).isEmpty(), "a word as a port passed");

    ObjectNode f = first("FlinkDeployment");
    ((ObjectNode) f.at("/spec/job")).put("upgradeMode", "snapshot");
    assertFalse(Schemas.problems(f).isEmpty(), "an unknown upgrade mode passed");

    ObjectNode c = first("FlinkDeployment");
    ((ObjectNode) c.at("/spec/flinkConfiguration")).put("parallelism.default", 2);
    assertFalse(Schemas.problems(c).isEmpty(), "a number in flinkConfiguration (a map of strings) passed");

    ObjectNode t = first("KafkaTopic");
    ((ObjectNode) t.get("spec")).put("partitions", "twelve");
    assertFalse(Schemas.problems(t).isEmpty(), "a word as a partition count passed");

    ObjectNode k = first("KafkaTopic");
    k.put("apiVersion", "kafka.strimzi.io/v1alpha9");
    assertFalse(Schemas.problems(k).isEmpty(), "an unknown apiVersion passed");
  }

  @Test
  void theSchemasAreTheProjectsPinnedModels() {
    // the models' own idea of their group/version/kind agrees with the table
    for (Map.Entry<String, Class<?>> e : Schemas.KINDS.entrySet()) {
      String apiVersion = io.fabric8.kubernetes.api.model.HasMetadata.getApiVersion(
          e.getKey().startsWith("v1/") || e.getKey().startsWith("apps/") ? asHasMetadata(e.getValue())
              : asHasMetadata(e.getValue()));
      String kind = io.fabric8.kubernetes.api.model.HasMetadata.getKind(asHasMetadata(e.getValue()));
      assertEquals(e.getKey(), apiVersion + "/" + kind);
    }
  }

  @SuppressWarnings("unchecked")
  private static Class<? extends io.fabric8.kubernetes.api.model.HasMetadata> asHasMetadata(Class<?> c) {
    return (Class<? extends io.fabric8.kubernetes.api.model.HasMetadata>) c;
  }

  static ObjectNode first(String kind) {
    return Kustomize.overlay("cpu").stream().filter(o -> o.path("kind").asText().equals(kind)).findFirst()
        .map(ObjectNode::deepCopy).orElseThrow(() -> new AssertionError("no " + kind + " rendered"));
  }

  static ArrayNode array(JsonNode n) {
    return (ArrayNode) n;
  }
}
