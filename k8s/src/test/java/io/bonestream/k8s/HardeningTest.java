package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.adapters.AdapterMethod;
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
      job.put("max-seq-len", 2048);
      r.setJobYaml(job);
    }, "needs (r 4, micro-batch 4 x 2048");
    // the cpu TaskManager's off-heap leaves room for records of 1024 tokens (docs/operations.md)
    Rendered longer = Rendered.of("cpu").copy();
    ObjectNode job = (ObjectNode) longer.jobYaml();
    job.put("max-seq-len", 1024);
    longer.setJobYaml(job);
    assertEquals(List.of(), MemoryBudget.taskManager(longer));
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

  /** The activation term against bench --memory's measurements at 10 shapes of 25M and 110M (workspaceBounds). */
  @Test
  void theWorkspaceFormulaBoundsTheMeasurements() {
    // 25M: d 512, h 1376, 8 layers, 8 heads, vocab 32000; 110M: 768, 2048, 12, 12, 32000
    MemoryBudget.Model m25 = new MemoryBudget.Model("25M", 0, 32000, 8, 512, 1376, 8, 8, 64, 0);
    MemoryBudget.Model m110 = new MemoryBudget.Model("110M", 0, 32000, 12, 768, 2048, 12, 12, 64, 0);
    // bench --memory 1 --methods bone (r 32) at 0 adapters: {batch, seq, the CPU device's buffers
    // ("native MB"), the process's resident set ("RSS MB")}, MB = 10^6 bytes
    // (docs/perf-runs/2026-12-06-fused-attention)
    workspaceBounds(m25, new double[][] {{1, 256, 129.4, 615.6}, {4, 256, 321.4, 781.7}, {8, 256, 575.4, 1041.8},
        {4, 128, 194.4, 667.3}, {1, 1024, 321.8, 789.5}, {2, 2048, 1084.3, 1588.2}});
    workspaceBounds(m110, new double[][] {{1, 256, 196.6, 913.1}, {2, 256, 328.7, 1054.6}, {4, 256, 589.8, 1314.8},
        {1, 1024, 590.2, 1326.3}});
  }

  /**
   * The plan counts what the CPU device allocates (it runs the same engine code): equal to the
   * device's own count. What the process really takes, independently: from the first (smallest)
   * shape to each other, the resident set grows by no more than the formula, its allowance
   * included, and by at least 0.7 of the plan's growth (the formula is not a gross overestimate).
   * Linear in the tokens (1 x 1024 as 4 x 256): no T² term since attention keeps no probabilities.
   */
  private static void workspaceBounds(MemoryBudget.Model m, double[][] measured) {
    double plan0 = 0;
    for (int i = 0; i < measured.length; i++) {
      double[] x = measured[i];
      double formula = MemoryBudget.workspace(m, AdapterMethod.BONE, 32, (int) x[0], (int) x[1]) / 1e6;
      double plan = formula - MemoryBudget.WORKSPACE_FIXED / 1e6;
      plan0 = i == 0 ? plan : plan0;
      double rssGrowth = x[3] - measured[0][3];
      String what = String.format("%s %.0f x %.0f: plan %.1f MB (device %.1f), RSS grew %.1f MB, plan %.1f MB",
          m.name(), x[0], x[1], plan, x[2], rssGrowth, plan - plan0);
      System.out.println(what);
      assertEquals(x[2], plan, 0.01 * x[2], what);
      assertTrue(rssGrowth <= formula - plan0, what);
      assertTrue(rssGrowth >= 0.7 * (plan - plan0), what);
    }
  }


}
