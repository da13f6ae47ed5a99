package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The rendered overlays as an attacker and an operator would look at them: every pod Pod Security
 * "restricted", a Kafka user per component with only its ACLs, NetworkPolicies in front of every
 * pod, counters read through rate()/increase(), alerts for what goes wrong, and memory limits that
 * hold the native memory of the model they name. Each check is shown to catch a broken copy.
 */
class HardeningTest {
  static List<String> overlays() {
    return Kustomize.OVERLAYS;
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void everyPodMeetsPodSecurityRestricted(String overlay) {
    assertEquals(List.of(), Hardening.podSecurity(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void eachComponentHasItsOwnKafkaUserWithOnlyItsAcls(String overlay) {
    assertEquals(List.of(), Hardening.kafkaUsers(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void everyPodIsBehindANetworkPolicy(String overlay) {
    assertEquals(List.of(), Hardening.networkPolicies(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void memoryLimitsHoldTheNativeMemoryOfTheNamedModel(String overlay) {
    Rendered r = Rendered.of(overlay);
    assertEquals(List.of(), MemoryBudget.taskManager(r));
    assertEquals(List.of(), MemoryBudget.serve(r));
    assertEquals(List.of(), MemoryBudget.gpu(r));
  }

  @Test
  void countersAreReadThroughRateOrIncrease() throws Exception {
    Set<String> counters = Hardening.operatorCounters();
    assertTrue(counters.containsAll(Set.of("dead_letters", "refused_manifests", "skipped_steps")), counters.toString());
    assertEquals(List.of(), Hardening.rawCounters(Hardening.dashboardExpressions(), counters));
    assertEquals(List.of(), Hardening.rawCounters(Hardening.ruleExpressions(Rendered.of("cpu")), counters));
    List<String> raw = Hardening.rawCounters(List.of(
        "sum by (adapter) (flink_taskmanager_job_task_operator_adapter_skipped_steps{adapter=~\"$adapter\"})",
        "max(flink_jobmanager_job_numRestarts)", "sum(rate(bonestream_subscriber_refused_total[5m]))",
        "sum by (reason) (bonestream_subscriber_refused_total)"), counters);
    assertEquals(3, raw.size(), raw.toString());
  }

  @Test
  void theAlertsCoverWhatGoesWrong() {
    Set<String> alerts = new java.util.TreeSet<>();
    for (ObjectNode rule : Rendered.of("cpu").all("PrometheusRule")) {
      rule.at("/spec/groups").forEach(g -> g.path("rules").forEach(x -> alerts.add(x.path("alert").asText())));
    }
    assertTrue(alerts.containsAll(Set.of("BonestreamJobNotRunning", "BonestreamJobRestarting",
        "BonestreamCheckpointsFailing", "BonestreamConsumerLag", "BonestreamSubscriberStale",
        "BonestreamRefusedVersions", "BonestreamRefusedManifests", "BonestreamDeadLetters",
        "BonestreamSubscriberRestarts")), alerts.toString());
  }

  // ---- each check catches a broken copy ----

  private static void assertCaught(Function<Rendered, List<String>> check, Consumer<Rendered> breakIt, String expected) {
    Rendered r = Rendered.of("cpu").copy();
    assertEquals(List.of(), check.apply(r), "the unbroken copy has problems");
    breakIt.accept(r);
    List<String> problems = check.apply(r);
    assertTrue(problems.toString().contains(expected), "not caught (wanted '" + expected + "'): " + problems);
  }

  private static ObjectNode trainerContext(Rendered r) {
    return (ObjectNode) r.flink().at("/spec/podTemplate/spec/containers/0/securityContext");
  }

  @Test
  void aPodOutsideRestrictedIsCaught() {
    assertCaught(Hardening::podSecurity, r -> trainerContext(r).remove("allowPrivilegeEscalation"),
        "TaskManager container flink-main-container: allowPrivilegeEscalation is not false");
    assertCaught(Hardening::podSecurity, r -> ((ObjectNode) r.flink().at("/spec/podTemplate/spec/securityContext"))
        .remove("seccompProfile"), "seccompProfile is not set");
    assertCaught(Hardening::podSecurity, r -> ((ArrayNode) trainerContext(r).at("/capabilities/drop")).removeAll(),
        "capabilities.drop lacks ALL");
    assertCaught(Hardening::podSecurity, r -> ((ObjectNode) r.serveDeployment()
        .at("/spec/template/spec/securityContext")).put("runAsNonRoot", false).put("runAsUser", 0), "runs as root");
    assertCaught(Hardening::podSecurity, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec"))
        .put("hostNetwork", true), "serve: hostNetwork");
  }

  @Test
  void aKafkaUserWithTooMuchOrTooLittleIsCaught() {
    assertCaught(Hardening::kafkaUsers, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec"))
        .withArray("volumes").forEach(v -> {
          if (v.path("name").asText().equals("kafka-user")) {
            ((ObjectNode) v.path("secret")).put("secretName", "bonestream-trainer");
          }
        }), "serve and the trainer share the Kafka user bonestream-trainer");
    assertCaught(Hardening::kafkaUsers, r -> {
      ObjectNode serve = r.find("KafkaUser", "bonestream-serve").orElseThrow();
      ((ArrayNode) serve.at("/spec/authorization/acls/0/operations")).add("Write");
    }, "serve's Kafka user may [Describe, Read, Write] on topic:bonestream.adapters");
    assertCaught(Hardening::kafkaUsers, r -> {
      ObjectNode serve = r.find("KafkaUser", "bonestream-serve").orElseThrow();
      ((ObjectNode) serve.at("/spec/authorization/acls/0/resource")).put("name", "bonestream.dlq");
    }, "may [Describe, Read] on topic:bonestream.dlq");
    assertCaught(Hardening::kafkaUsers, r -> {
      ObjectNode trainer = r.find("KafkaUser", "bonestream-trainer").orElseThrow();
      ArrayNode acls = (ArrayNode) trainer.at("/spec/authorization/acls");
      for (int i = acls.size() - 1; i >= 0; i--) {
        if (acls.get(i).at("/resource/type").asText().equals("transactionalId")) {
          acls.remove(i);
        }
      }
    }, "lacks [Describe, Write] on transactionalId:bonestream:prefix");
    assertCaught(Hardening::kafkaUsers, r -> {
      ObjectNode trainer = r.find("KafkaUser", "bonestream-trainer").orElseThrow();
      ArrayNode acls = (ArrayNode) trainer.at("/spec/authorization/acls");
      for (int i = acls.size() - 1; i >= 0; i--) {
        if (acls.get(i).at("/resource/name").asText().equals("bonestream.control")) {
          acls.remove(i);
        }
      }
    }, "lacks [Describe, Read] on topic:bonestream.control:literal");
    assertCaught(Hardening::kafkaUsers, r -> r.all("KafkaTopic").stream()
        .filter(t -> t.at("/spec/topicName").asText().equals("bonestream.dlq"))
        .forEach(t -> ((ObjectNode) t.at("/spec/config")).remove("retention.ms")), "keeps users' raw records forever");
  }

  @Test
  void aPodWithoutANetworkPolicyOrOpenToAllIsCaught() {
    assertCaught(Hardening::networkPolicies, r -> r.all("NetworkPolicy").stream()
        .filter(p -> p.at("/metadata/name").asText().equals("bonestream-serve"))
        .forEach(p -> ((ObjectNode) p.at("/spec/podSelector/matchLabels")).put("app.kubernetes.io/component", "other")),
        "serve pods are behind no ingress NetworkPolicy");
    assertCaught(Hardening::networkPolicies, r -> r.all("NetworkPolicy").stream()
        .filter(p -> p.at("/metadata/name").asText().equals("bonestream-flink"))
        .forEach(p -> ((ArrayNode) p.at("/spec/ingress")).addObject()), "an ingress rule without 'from'");
    assertCaught(Hardening::networkPolicies, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("rest.port", "8082"), "the operator (Flink's REST API) in from namespace flink-operator on port 8082");
    assertCaught(Hardening::networkPolicies, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .remove("web.submit.enable"), "takes jar uploads");
  }

  @Test
  void aMemoryBudgetShortOfTheFormulaIsCaught() {
    assertCaught(MemoryBudget::taskManager, r -> ((ObjectNode) r.flink().at("/spec/taskManager/resource"))
        .put("memory", "4096m"), "Flink cannot split");
    assertCaught(MemoryBudget::taskManager, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("taskmanager.memory.task.off-heap.size", "1024m"), "task off-heap 1024");
    assertCaught(MemoryBudget::taskManager, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      job.put("max-seq-len", 1024);
      r.setJobYaml(job);
    }, "needs (r 4, micro-batch 4 x 1024");
    assertCaught(MemoryBudget::serve, r -> ((ObjectNode) r.serveDeployment()
        .at("/spec/template/spec/containers/0/resources/limits")).put("memory", "2Gi"), "serve: memory limit 2Gi");
    assertCaught(MemoryBudget::serve, r -> setServeArg(r, "--concurrency", "8"), "8 generations");
  }

  private static void setServeArg(Rendered r, String flag, String value) {
    ArrayNode args = (ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args");
    for (int i = 0; i + 1 < args.size(); i++) {
      if (args.get(i).asText().equals(flag)) {
        args.set(i + 1, com.fasterxml.jackson.databind.node.TextNode.valueOf(value));
      }
    }
  }

  /** The formula against the measured 25M row of docs/performance.md (bench --memory): above it, within 30%. */
  @Test
  void theWorkspaceFormulaBoundsTheMeasurements() {
    // 25M: d 512, h 1376, 8 layers, 8 heads, vocab 32000; 110M: 768, 2048, 12, 12, 32000
    MemoryBudget.Model m25 = new MemoryBudget.Model("25M", 0, 32000, 8, 512, 1376, 8, 8, 64, 0);
    MemoryBudget.Model m110 = new MemoryBudget.Model("110M", 0, 32000, 12, 768, 2048, 12, 12, 64, 0);
    // bench --memory "native" at 0 adapters (device buffers: the workspace), MB (10^6 bytes)
    double[][] measured = {{1, 256, 149.8}, {4, 256, 402.9}, {8, 256, 738.5}, {4, 128, 214.2}};
    for (double[] x : measured) {
      double formula = MemoryBudget.workspace(m25, (long) x[0], (long) x[1]) / 1e6;
      assertTrue(formula >= x[2] && formula <= 1.3 * x[2], "25M " + x[0] + " x " + x[1] + ": " + formula + " MB vs " + x[2]);
    }
    double[][] measured110 = {{1, 256, 239.7}, {2, 256, 414.9}, {4, 256, 762.2}};
    for (double[] x : measured110) {
      double formula = MemoryBudget.workspace(m110, (long) x[0], (long) x[1]) / 1e6;
      assertTrue(formula >= x[2] && formula <= 1.3 * x[2], "110M " + x[0] + " x " + x[1] + ": " + formula + " MB vs " + x[2]);
    }
  }
}
