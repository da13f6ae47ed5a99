package io.bonestream.job;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a Grafana dashboard's PromQL against what a running system exports: every metric name an
 * expression uses must be in the scraped pages, and every label it selects on or groups by must be
 * a label of that metric. A small PromQL reader: selectors, {@code by}/{@code without} lists,
 * function calls and {@code label_values(metric, label)}.
 */
final class DashboardCheck {
  private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)\\})?\\s+\\S+.*$");
  private static final Pattern LABEL_IN_SAMPLE = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"");
  private static final Pattern SELECTOR = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*\\{([^}]*)\\}");
  private static final Pattern MATCHER = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!~|!=|=)");
  private static final Pattern GROUPING = Pattern.compile("\\b(by|without)\\s*\\(([^)]*)\\)");
  private static final Pattern IDENT = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\(\\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*,\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*\\)");
  private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring", "group_left",
      "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan");

  private DashboardCheck() {}

  /** Metric name → every label name seen on it, from Prometheus text pages. */
  static Map<String, Set<String>> exported(List<String> pages) {
    Map<String, Set<String>> out = new TreeMap<>();
    for (String page : pages) {
      for (String line : page.split("\n")) {
        if (line.isBlank() || line.startsWith("#")) {
          continue;
        }
        Matcher m = SAMPLE.matcher(line.strip());
        if (!m.matches()) {
          continue;
        }
        Set<String> labels = out.computeIfAbsent(m.group(1), k -> new HashSet<>());
        if (m.group(3) != null) {
          Matcher l = LABEL_IN_SAMPLE.matcher(m.group(3));
          while (l.find()) {
            labels.add(l.group(1));
          }
        }
      }
    }
    return out;
  }

  /** Every PromQL expression of a dashboard: panel targets and template variable queries. */
  static List<String> expressions(Path dashboard) throws IOException {
    JsonNode d = Json.MAPPER.readTree(dashboard.toFile());
    List<String> out = new ArrayList<>();
    for (JsonNode p : d.path("panels")) {
      for (JsonNode t : p.path("targets")) {
        if (t.hasNonNull("expr")) {
          out.add(t.get("expr").asText());
        }
      }
    }
    for (JsonNode v : d.path("templating").path("list")) {
      if (v.path("query").isObject() && v.path("query").hasNonNull("query")) {
        out.add(v.path("query").get("query").asText());
      } else if (v.path("type").asText().equals("query") && v.path("query").isTextual()) {
        out.add(v.get("query").asText());
      }
    }
    return out;
  }

  /** Every PromQL expression of a PrometheusRule file (k8s/base/alerts.yaml). */
  static List<String> ruleExpressions(Path rules) throws IOException {
    JsonNode r = new com.fasterxml.jackson.databind.ObjectMapper(new com.fasterxml.jackson.dataformat.yaml.YAMLFactory())
        .readTree(rules.toFile());
    List<String> out = new ArrayList<>();
    for (JsonNode g : r.at("/spec/groups")) {
      for (JsonNode rule : g.path("rules")) {
        out.add(rule.path("expr").asText());
      }
    }
    return out;
  }

  /** What in {@code expressions} the pages do not export; empty when all is there. */
  static List<String> problems(List<String> expressions, Map<String, Set<String>> exported) {
    List<String> problems = new ArrayList<>();
    for (String expr : expressions) {
      Map<String, Set<String>> used = new HashMap<>(); // metric → labels it is selected on
      Set<String> groupedBy = new HashSet<>();
      String rest = expr.replaceAll("\"(\\\\.|[^\"\\\\])*\"", "\"\"");
      Matcher lv = LABEL_VALUES.matcher(rest);
      while (lv.find()) {
        used.computeIfAbsent(lv.group(1), k -> new HashSet<>()).add(lv.group(2));
      }
      rest = LABEL_VALUES.matcher(rest).replaceAll(" ");
      Matcher g = GROUPING.matcher(rest);
      while (g.find()) {
        for (String l : g.group(2).split(",")) {
          if (!l.isBlank()) {
            groupedBy.add(l.strip());
          }
        }
      }
      rest = GROUPING.matcher(rest).replaceAll(" ");
      Matcher s = SELECTOR.matcher(rest);
      while (s.find()) {
        Set<String> labels = used.computeIfAbsent(s.group(1), k -> new HashSet<>());
        Matcher m = MATCHER.matcher(s.group(2));
        while (m.find()) {
          labels.add(m.group(1));
        }
      }
      rest = SELECTOR.matcher(rest).replaceAll(" $1 ").replaceAll("\\[[^]]*]", " ");
      Matcher id = IDENT.matcher(rest);
      while (id.find()) {
        String name = id.group();
        int after = id.end();
        while (after < rest.length() && rest.charAt(after) == ' ') {
          after++;
        }
        boolean call = after < rest.length() && rest.charAt(after) == '(';
        if (!call && !KEYWORDS.contains(name.toLowerCase()) && !name.matches("[0-9].*")) {
          used.computeIfAbsent(name, k -> new HashSet<>());
        }
      }
      Set<String> labelsOfExpr = new HashSet<>();
      for (Map.Entry<String, Set<String>> e : used.entrySet()) {
        Set<String> has = exported.get(e.getKey());
        if (has == null) {
          problems.add("metric " + e.getKey() + " is not exported (in: " + expr + ")");
          continue;
        }
        labelsOfExpr.addAll(has);
        for (String l : e.getValue()) {
          if (!has.contains(l)) {
            problems.add("metric " + e.getKey() + " has no label " + l + " (in: " + expr + ")");
          }
        }
      }
      for (String l : groupedBy) {
        if (!labelsOfExpr.contains(l)) {
          problems.add("no metric of the expression has the label " + l + " it groups by (in: " + expr + ")");
        }
      }
    }
    return problems;
  }
}
