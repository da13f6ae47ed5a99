package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The access components of k8s/components (schema-registry, taskmanager-egress, vllm), rendered into
 * the cpu and gpu overlays as an operator adds them (src/test/resources/overlays): the hardening of the
 * overlays still holds, and each component's Secrets, mounts and NetworkPolicies admit what they
 * should and nothing else. Each check is shown to catch a broken copy.
 */
class AccessTest {
  static List<String> withComponents() {
    return Kustomize.WITH_COMPONENTS;
  }

  static List<String> all() {
    return Stream.concat(Kustomize.OVERLAYS.stream(), Kustomize.WITH_COMPONENTS.stream()).toList();
  }

  @ParameterizedTest
  @MethodSource("withComponents")
  void theOverlaysHardeningStillHolds(String overlay) {
    Rendered r = Rendered.of(overlay);
    assertEquals(List.of(), Hardening.podSecurity(r));
    assertEquals(List.of(), Hardening.networkPolicies(r));
    assertEquals(List.of(), Hardening.kafkaUsers(r));
    assertEquals(List.of(), Checks.volumesAndFiles(r, Checks.documentedSecrets(), Checks.documentedClaims()));
    assertEquals(List.of(), Checks.signing(r));
  }

  @ParameterizedTest
  @MethodSource("withComponents")
  void everyRenderedObjectFitsItsSchema(String overlay) {
    List<String> problems = new ArrayList<>();
    for (ObjectNode o : Kustomize.overlay(overlay)) {
      problems.addAll(Schemas.problems(o));
    }
    assertEquals(List.of(), problems);
  }

  @ParameterizedTest
  @MethodSource("all")
  void accessRulesHold(String overlay) {
    Rendered r = Rendered.of(overlay);
    assertEquals(List.of(), Access.registryCredentials(r));
    assertEquals(List.of(), Access.vllmKey(r));
    assertEquals(List.of(), Access.vllmPolicy(r));
    assertEquals(List.of(), Access.taskManagerEgress(r));
  }

  /** The components are in the overlays under test, and the gpu overlay's GPU survives them. */
  @ParameterizedTest
  @MethodSource("withComponents")
  void theComponentsAreThere(String overlay) {
    Rendered r = Rendered.of(overlay);
    assertEquals(1, Access.pods(r).get("TaskManager").volumes.values().stream()
        .filter(v -> v.at("/secret/secretName").asText().equals(Access.REGISTRY_SECRET)).count());
    assertTrue(r.serveArg("--vllm-url").isPresent());
    assertTrue(r.find("NetworkPolicy", "bonestream-vllm").isPresent());
    assertTrue(r.find("NetworkPolicy", "bonestream-taskmanager-egress").isPresent());
    if (overlay.endsWith("gpu")) {
      assertEquals(1, r.flink().at("/spec/taskManager/podTemplate/spec/containers/0/resources/limits/nvidia.com~1gpu").asInt());
    }
  }

  // ---- each check catches a broken copy ----

  private static void assertCaught(Function<Rendered, List<String>> check, Consumer<Rendered> breakIt, String expected) {
    Rendered r = Rendered.of("access-cpu").copy();
    assertEquals(List.of(), check.apply(r), "the unbroken copy has problems");
    breakIt.accept(r);
    List<String> problems = check.apply(r);
    assertTrue(problems.toString().contains(expected), "not caught (wanted '" + expected + "'): " + problems);
  }

  private static ObjectNode tmSpec(Rendered r) {
    return (ObjectNode) r.flink().at("/spec/taskManager/podTemplate/spec");
  }

  private static ObjectNode registryVolume(Rendered r) {
    return (ObjectNode) tmSpec(r).path("volumes").get(0);
  }

  private static ObjectNode policy(Rendered r, String name) {
    return r.find("NetworkPolicy", name).orElseThrow();
  }

  @Test
  void registryCredentialsElsewhereOrOpenAreCaught() {
    assertCaught(Access::registryCredentials, r -> ((ObjectNode) registryVolume(r).path("secret")).put("defaultMode", 0444),
        "mounted with mode 0444");
    assertCaught(Access::registryCredentials, r -> ((ObjectNode) tmSpec(r).at("/containers/0/volumeMounts/0")).remove("readOnly"),
        "is not readOnly");
    // into the common template: the JobManager gets it too
    assertCaught(Access::registryCredentials, r -> {
      ObjectNode common = (ObjectNode) r.flink().at("/spec/podTemplate/spec");
      common.withArray("volumes").add(registryVolume(r).deepCopy());
      ((ArrayNode) common.at("/containers/0/volumeMounts")).add(tmSpec(r).at("/containers/0/volumeMounts/0").deepCopy());
    }, "JobManager mounts Secret bonestream-registry");
    assertCaught(Access::registryCredentials, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec/containers/0"))
        .withArray("env").addObject().put("name", "REGISTRY_PASSWORD").putObject("valueFrom").putObject("secretKeyRef")
        .put("name", "bonestream-registry").put("key", "password"), "serve reads Secret bonestream-registry");
    assertCaught(Access::registryCredentials, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .remove(Access.MERGE_BY_NAME), "merges them by position");
  }

  @Test
  void vllmKeyElsewhereOrUnreadableAreCaught() {
    // the key as a 0440 file: what the brief asked for, and what serve refuses
    assertCaught(Access::vllmKey, r -> {
      ObjectNode spec = (ObjectNode) r.serveDeployment().at("/spec/template/spec");
      spec.withArray("volumes").addObject().put("name", "vllm-key").putObject("secret")
          .put("secretName", "bonestream-vllm").put("defaultMode", 0440);
      ((ArrayNode) spec.at("/containers/0/volumeMounts")).addObject().put("name", "vllm-key")
          .put("mountPath", "/etc/bonestream/vllm").put("readOnly", true);
      ArrayNode env = (ArrayNode) spec.at("/containers/0/env");
      for (int i = env.size() - 1; i >= 0; i--) {
        if (env.get(i).path("name").asText().equals(Access.VLLM_KEY_ENV)) {
          env.remove(i);
        }
      }
      ((ArrayNode) spec.at("/containers/0/args")).add("--vllm-api-key-file").add("/etc/bonestream/vllm/api-key");
    }, "has mode 0440, which serve refuses");
    assertCaught(Access::vllmKey, r -> serveEnv(r).forEach(e -> {
      if (e.path("name").asText().equals(Access.VLLM_KEY_ENV)) {
        ((ObjectNode) e).remove("valueFrom");
        ((ObjectNode) e).put("value", "literal");
      }
    }), "does not come from Secret bonestream-vllm");
    assertCaught(Access::vllmKey, r -> ((ObjectNode) r.flink().at("/spec/podTemplate/spec/containers/0"))
        .withArray("env").addObject().put("name", Access.VLLM_KEY_ENV).putObject("valueFrom").putObject("secretKeyRef")
        .put("name", "bonestream-vllm").put("key", "api-key"), "TaskManager gets Secret bonestream-vllm");
    assertCaught(Access::vllmKey, r -> setServeArg(r, "--export-dir", "/tmp/adapters"), "is not on a writable PersistentVolumeClaim");
    assertCaught(Access::vllmKey, r -> {
      ArrayNode args = (ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args");
      for (int i = args.size() - 1; i >= 0; i--) {
        if (args.get(i).asText().equals("--vllm-allow-http")) {
          args.remove(i);
        }
      }
    }, "without --vllm-allow-http");
  }

  @Test
  void vllmReachableByOthersIsCaught() {
    assertCaught(Access::vllmPolicy, r -> ((ArrayNode) policy(r, "bonestream-vllm").at("/spec/ingress/0/from")).addObject()
        .putObject("podSelector"), "admits pods {} to vLLM");
    assertCaught(Access::vllmPolicy, r -> ((ArrayNode) policy(r, "bonestream-vllm").at("/spec/ingress/0/ports")).addObject()
        .put("port", 8001), "(vLLM's 8000/TCP only)");
    assertCaught(Access::vllmPolicy, r -> ((ObjectNode) policy(r, "bonestream-vllm").at("/spec/ingress/0")).remove("ports"),
        "admits ports (all)");
    assertCaught(Access::vllmPolicy, r -> ((ObjectNode) policy(r, "bonestream-vllm").at("/spec/ingress/0/from/0/podSelector/matchLabels"))
        .remove("app.kubernetes.io/component"), "admits pods {app.kubernetes.io/name=bonestream}");
    assertCaught(Access::vllmPolicy, r -> ((ObjectNode) policy(r, "bonestream-vllm").at("/spec/podSelector/matchLabels"))
        .put("app.kubernetes.io/name", "other"), "behind no ingress NetworkPolicy");
    assertCaught(Access::vllmPolicy, r -> setServeArg(r, "--vllm-url", "http://vllm:8001"), "(vLLM's 8001/TCP only)");
  }

  @Test
  void taskManagerEgressTooOpenOrTooTightIsCaught() {
    String p = "bonestream-taskmanager-egress";
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).remove(0), "no DNS");
    assertCaught(Access::taskManagerEgress, r -> ((ObjectNode) policy(r, p).at("/spec/egress/1/to/0/ipBlock"))
        .put("cidr", "SET-THE-API-SERVER-ADDRESS/32"), "is not an address");
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).remove(1),
        "no Kubernetes API server");
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).remove(2),
        "not to the other Flink pods");
    assertCaught(Access::taskManagerEgress, r -> ((ObjectNode) policy(r, p).at("/spec/egress/3/ports/0")).put("port", 9092),
        "not to Kafka's brokers");
    assertCaught(Access::taskManagerEgress, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("s3.endpoint", "http://minio.storage.svc:9000"), "not to the S3 store http://minio.storage.svc:9000");
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).remove(5),
        "may not reach a registry");
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).addObject(),
        "a rule without 'to'");
    assertCaught(Access::taskManagerEgress, r -> ((ArrayNode) policy(r, p).at("/spec/egress")).addObject()
        .putArray("to").addObject().putObject("ipBlock").put("cidr", "0.0.0.0/0"), "that no TaskManager needs");
    assertCaught(Access::taskManagerEgress, r -> ((ObjectNode) policy(r, p).at("/spec/podSelector/matchLabels"))
        .remove("component"), "restricts the egress of pods other than the TaskManagers");
  }

  private static List<JsonNode> serveEnv(Rendered r) {
    List<JsonNode> l = new ArrayList<>();
    r.serveDeployment().at("/spec/template/spec/containers/0/env").forEach(l::add);
    return l;
  }

  private static void setServeArg(Rendered r, String flag, String value) {
    ArrayNode args = (ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args");
    for (int i = 0; i + 1 < args.size(); i++) {
      if (args.get(i).asText().equals(flag)) {
        args.set(i + 1, TextNode.valueOf(value));
      }
    }
  }
}
