package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.engine.TestFiles;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The dashboard check itself: it passes what is exported and fails on each kind of mistake. */
class DashboardCheckTest {
  private static final String PAGE = String.join("\n",
      "# HELP flink_x_loss_ema loss",
      "flink_x_loss_ema{job_id=\"j\",adapter=\"a-b\",tm_id=\"t\",} 0.5",
      "flink_x_dead_letters{dlq_reason=\"NOT_AVRO\",} 3.0",
      "sub_latency_seconds_bucket{le=\"0.1\"} 2",
      "sub_refused_total{reason=\"TAMPERED\"} 0.0",
      "");
  private static final Map<String, Set<String>> EXPORTED = DashboardCheck.exported(List.of(PAGE));

  private static List<String> problems(String... exprs) {
    return DashboardCheck.problems(List.of(exprs), EXPORTED);
  }

  @Test
  void exportedNamesAndLabelsPass() {
    assertEquals(List.of(), problems(
        "max by (adapter) (flink_x_loss_ema{adapter=~\"$adapter\"})",
        "sum by (dlq_reason) (flink_x_dead_letters)",
        "histogram_quantile(0.99, sum by (le) (rate(sub_latency_seconds_bucket[5m])))",
        "sum by (reason) (increase(sub_refused_total[15m]))",
        "label_values(flink_x_loss_ema, adapter)"));
  }

  @Test
  void eachKindOfMistakeIsFound() {
    assertTrue(problems("max(flink_x_loss_emaa)").get(0).contains("flink_x_loss_emaa is not exported"));
    assertTrue(problems("flink_x_loss_ema{adaptor=\"x\"}").get(0).contains("has no label adaptor"));
    assertTrue(problems("sum by (adaptor) (flink_x_loss_ema)").get(0).contains("groups by"));
    assertTrue(problems("label_values(flink_x_dead_letters, adapter)").get(0).contains("has no label adapter"));
    assertEquals(1, problems("rate(sub_missing_total[5m]) / sub_refused_total").size());
  }

  @Test
  void theDashboardHasExpressions() throws Exception {
    Path dashboard = TestFiles.models().getParent().resolve("k8s/base/grafana/bonestream.json");
    List<String> exprs = DashboardCheck.expressions(dashboard);
    assertTrue(exprs.size() >= 20, exprs.toString());
  }

  @Test
  void theAlertRulesHaveExpressions() throws Exception {
    List<String> exprs = DashboardCheck.ruleExpressions(TestFiles.models().getParent().resolve("k8s/base/alerts.yaml"));
    assertTrue(exprs.size() >= 9 && exprs.stream().allMatch(e -> !e.isBlank()), exprs.toString());
    // what the demo's check reads of them: absent() and max() are functions, not metrics
    assertEquals(List.of(), DashboardCheck.problems(List.of(exprs.get(0)), DashboardCheck.exported(List.of(
        "flink_jobmanager_numRunningJobs 1.0\n"))));
  }
}
