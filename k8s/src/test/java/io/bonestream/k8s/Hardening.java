package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The security settings of the rendered manifests: Pod Security "restricted" on every pod, a Kafka
 * user per component with only the ACLs it needs, NetworkPolicies in front of every pod, counters
 * read through rate()/increase(). Each check returns its problems (empty: fine).
 */
final class Hardening {
  private Hardening() {}

  /** The pod specs as the cluster runs them: serve's, and the trainer's per role (common template, then the role's). */
  static Map<String, List<JsonNode>> podSpecs(Rendered r) {
    JsonNode spec = r.flink().path("spec");
    return Map.of(
        "JobManager", List.of(spec.at("/podTemplate/spec"), spec.at("/jobManager/podTemplate/spec")),
        "TaskManager", List.of(spec.at("/podTemplate/spec"), spec.at("/taskManager/podTemplate/spec")),
        "serve", List.of(r.serveDeployment().at("/spec/template/spec")));
  }

  /** Pod Security Standard "restricted" (the fields it checks), for the pod specs merged in order. */
  static List<String> podSecurity(Rendered r) {
    List<String> problems = new ArrayList<>();
    podSpecs(r).forEach((pod, specs) -> {
      JsonNode podContext = null;
      Map<String, JsonNode> containers = new java.util.TreeMap<>();
      for (JsonNode s : specs) {
        if (s.has("securityContext")) {
          podContext = s.get("securityContext");
        }
        for (String flag : List.of("hostNetwork", "hostPID", "hostIPC")) {
          if (s.path(flag).asBoolean(false)) {
            problems.add(pod + ": " + flag);
          }
        }
        for (JsonNode v : s.path("volumes")) {
          if (v.has("hostPath")) {
            problems.add(pod + ": hostPath volume " + v.path("name").asText());
          }
        }
        for (String list : List.of("containers", "initContainers")) {
          for (JsonNode c : s.path(list)) {
            containers.merge(c.path("name").asText(), c, (a, b) -> {
              ObjectNode m = ((ObjectNode) a).deepCopy();
              m.setAll((ObjectNode) b);
              return m;
            });
          }
        }
      }
      JsonNode pc = podContext == null ? Yaml.MAPPER.createObjectNode() : podContext;
      for (Map.Entry<String, JsonNode> e : containers.entrySet()) {
        String what = pod + " container " + e.getKey();
        JsonNode cc = e.getValue().path("securityContext");
        if (!(cc.path("runAsNonRoot").asBoolean(false) || (!cc.has("runAsNonRoot") && pc.path("runAsNonRoot").asBoolean(false)))) {
          problems.add(what + ": runAsNonRoot is not true");
        }
        if (cc.path("runAsUser").asInt(pc.path("runAsUser").asInt(1)) == 0) {
          problems.add(what + ": runs as root (uid 0)");
        }
        String seccomp = cc.at("/seccompProfile/type").asText(pc.at("/seccompProfile/type").asText(""));
        if (!seccomp.equals("RuntimeDefault") && !seccomp.equals("Localhost")) {
          problems.add(what + ": seccompProfile is " + (seccomp.isEmpty() ? "not set" : seccomp)
              + " (RuntimeDefault or Localhost)");
        }
        if (!cc.has("allowPrivilegeEscalation") || cc.path("allowPrivilegeEscalation").asBoolean(true)) {
          problems.add(what + ": allowPrivilegeEscalation is not false");
        }
        if (cc.path("privileged").asBoolean(false)) {
          problems.add(what + ": privileged");
        }
        Set<String> dropped = new HashSet<>();
        cc.at("/capabilities/drop").forEach(c -> dropped.add(c.asText()));
        if (!dropped.contains("ALL")) {
          problems.add(what + ": capabilities.drop lacks ALL");
        }
        cc.at("/capabilities/add").forEach(c -> {
          if (!c.asText().equals("NET_BIND_SERVICE")) {
            problems.add(what + ": adds capability " + c.asText());
          }
        });
        for (JsonNode p : e.getValue().path("ports")) {
          if (p.has("hostPort")) {
            problems.add(what + ": hostPort " + p.get("hostPort"));
          }
        }
      }
    });
    return problems;
  }

  /** (topic or group or transactionalId name, pattern) → operations, for one KafkaUser. */
  static Map<String, Set<String>> acls(ObjectNode user) {
    Map<String, Set<String>> out = new java.util.TreeMap<>();
    for (JsonNode acl : user.at("/spec/authorization/acls")) {
      JsonNode res = acl.path("resource");
      String key = res.path("type").asText() + ":" + res.path("name").asText("*") + ":"
          + res.path("patternType").asText("literal");
      Set<String> ops = out.computeIfAbsent(key, k -> new TreeSet<>());
      acl.path("operations").forEach(o -> ops.add(o.asText()));
    }
    return out;
  }

  /** The KafkaUser whose Secret a pod mounts as its Kafka credentials (volume kafka-user). */
  static String kafkaUserOf(Rendered.Pod pod) {
    JsonNode v = pod.volumes.get("kafka-user");
    return v == null ? "" : v.at("/secret/secretName").asText();
  }

  /**
   * Each component has its own Kafka user (Strimzi names the Secret as the user) with only what it
   * does: serve reads the adapters topic; the trainer reads the instructions and the control topic, reads and writes the
   * adapters, writes dead letters and gated snapshots, in transactions of its prefix; only the
   * trainer writes the dead letters and no component reads them; the dead letters expire.
   */
  static List<String> kafkaUsers(Rendered r) {
    List<String> problems = new ArrayList<>();
    JsonNode job = r.jobYaml();
    String instructions = job.at("/topics/instructions").asText();
    String adapters = job.at("/topics/adapters").asText();
    String dlq = job.at("/topics/dead-letters").asText();
    String gated = job.at("/topics/gated").asText();
    String control = job.at("/topics/control").asText();
    String trainer = kafkaUserOf(r.trainer("taskManager"));
    String serve = kafkaUserOf(r.serve());
    if (!trainer.equals(kafkaUserOf(r.trainer("jobManager")))) {
      problems.add("the JobManager and the TaskManagers use different Kafka users");
    }
    if (trainer.equals(serve)) {
      problems.add("serve and the trainer share the Kafka user " + serve);
    }
    Map<String, ObjectNode> users = new java.util.TreeMap<>();
    r.all("KafkaUser").forEach(u -> users.put(u.at("/metadata/name").asText(), u));
    for (String u : List.of(trainer, serve)) {
      if (!users.containsKey(u)) {
        problems.add("no KafkaUser " + u + " (the Secret a component mounts)");
      }
    }
    if (!problems.isEmpty()) {
      return problems;
    }
    Map<String, Set<String>> s = acls(users.get(serve));
    for (Map.Entry<String, Set<String>> e : s.entrySet()) {
      boolean adaptersTopic = e.getKey().equals("topic:" + adapters + ":literal");
      boolean group = e.getKey().startsWith("group:");
      if (!(adaptersTopic && Set.of("Read", "Describe").containsAll(e.getValue()))
          && !(group && Set.of("Read").containsAll(e.getValue()))) {
        problems.add("serve's Kafka user may " + e.getValue() + " on " + e.getKey() + " (only read the adapters topic)");
      }
    }
    if (!s.containsKey("topic:" + adapters + ":literal")) {
      problems.add("serve's Kafka user cannot read " + adapters);
    }
    Map<String, Set<String>> t = acls(users.get(trainer));
    need(problems, t, "topic:" + instructions + ":literal", Set.of("Read", "Describe"), "the trainer");
    need(problems, t, "topic:" + adapters + ":literal", Set.of("Read", "Write", "Describe"), "the trainer");
    need(problems, t, "topic:" + dlq + ":literal", Set.of("Write", "Describe"), "the trainer");
    need(problems, t, "topic:" + gated + ":literal", Set.of("Write", "Describe"), "the trainer");
    need(problems, t, "topic:" + control + ":literal", Set.of("Read", "Describe"), "the trainer");
    need(problems, t, "transactionalId:" + job.at("/kafka/transactional-id-prefix").asText() + ":prefix",
        Set.of("Write", "Describe"), "the trainer");
    need(problems, t, "group:" + job.at("/kafka/group-id").asText() + ":prefix", Set.of("Read"), "the trainer");
    for (Map.Entry<String, ObjectNode> u : users.entrySet()) {
      Set<String> onDlq = acls(u.getValue()).getOrDefault("topic:" + dlq + ":literal", Set.of());
      if (onDlq.contains("Read") && (u.getKey().equals(trainer) || u.getKey().equals(serve))) {
        problems.add(u.getKey() + " may read the dead letters (users' raw records)");
      }
      for (Map.Entry<String, Set<String>> e : acls(u.getValue()).entrySet()) {
        for (String op : e.getValue()) {
          if (Set.of("All", "Delete", "Alter", "AlterConfigs").contains(op)) {
            problems.add(u.getKey() + " may " + op + " " + e.getKey());
          }
        }
      }
    }
    ObjectNode dlqTopic = r.all("KafkaTopic").stream()
        .filter(k -> k.at("/spec/topicName").asText().equals(dlq)).findFirst().orElse(null);
    long retention = dlqTopic == null ? -1 : dlqTopic.at("/spec/config/retention.ms").asLong(-1);
    if (retention <= 0 || retention > 14L * 24 * 3600 * 1000) {
      problems.add("the dead-letter topic keeps users' raw records " + (retention <= 0 ? "forever" : retention + " ms")
          + " (at most 14 days)");
    }
    return problems;
  }

  private static void need(List<String> problems, Map<String, Set<String>> acls, String resource, Set<String> ops,
      String who) {
    Set<String> has = acls.getOrDefault(resource, Set.of());
    if (!has.containsAll(ops)) {
      problems.add(who + "'s Kafka user lacks " + new TreeSet<>(ops) + " on " + resource + " (has " + has + ")");
    }
  }

  /** Does {@code policy} select pods with these labels (matchLabels only)? */
  private static boolean selects(JsonNode selector, Map<String, String> labels) {
    var it = selector.path("matchLabels").fields();
    while (it.hasNext()) {
      var e = it.next();
      if (!e.getValue().asText().equals(labels.get(e.getKey()))) {
        return false;
      }
    }
    return !selector.has("matchExpressions");
  }

  /**
   * Every pod is behind an ingress NetworkPolicy; no rule lets everyone in; Flink's REST port is
   * open to the operator's namespace, its reporter port and serve's port to Prometheus' namespace.
   */
  static List<String> networkPolicies(Rendered r) {
    List<String> problems = new ArrayList<>();
    String name = r.flink().at("/metadata/name").asText();
    Map<String, String> flinkLabels = Map.of("app", name, "type", "flink-native-kubernetes");
    Map<String, String> serveLabels = new java.util.HashMap<>();
    r.serveDeployment().at("/spec/template/metadata/labels").fields()
        .forEachRemaining(e -> serveLabels.put(e.getKey(), e.getValue().asText()));
    Map<String, String> conf = r.flinkConfiguration();
    if (!"false".equals(conf.get("web.submit.enable"))) {
      problems.add("Flink's REST API takes jar uploads (web.submit.enable is not false): whoever reaches it runs code");
    }
    int rest = Integer.parseInt(conf.getOrDefault("rest.port", "8081"));
    int reporter = Integer.parseInt(conf.getOrDefault("metrics.reporter.prom.port", "9249"));
    int servePort = r.serve().ports.isEmpty() ? -1 : r.serve().ports.get(0).path("containerPort").asInt();
    Map<String, Map<String, String>> pods = Map.of("Flink", flinkLabels, "serve", serveLabels);
    for (Map.Entry<String, Map<String, String>> pod : pods.entrySet()) {
      List<JsonNode> rules = new ArrayList<>();
      boolean covered = false;
      for (ObjectNode p : r.all("NetworkPolicy")) {
        JsonNode spec = p.path("spec");
        boolean ingress = spec.path("policyTypes").toString().contains("Ingress") || !spec.has("policyTypes");
        if (ingress && selects(spec.path("podSelector"), pod.getValue())) {
          covered = true;
          spec.path("ingress").forEach(rules::add);
        }
      }
      if (!covered) {
        problems.add(pod.getKey() + " pods are behind no ingress NetworkPolicy");
        continue;
      }
      for (JsonNode rule : rules) {
        if (!rule.has("from") || rule.path("from").isEmpty()) {
          problems.add(pod.getKey() + ": an ingress rule without 'from' lets every pod in" + rule.path("ports"));
        }
      }
      if (pod.getKey().equals("Flink")) {
        requirePort(problems, rules, "flink-operator", rest, "the operator (Flink's REST API)");
        requirePort(problems, rules, "monitoring", reporter, "Prometheus (Flink's reporter)");
      } else {
        requirePort(problems, rules, "monitoring", servePort, "Prometheus (serve's /metrics)");
      }
    }
    return problems;
  }

  private static void requirePort(List<String> problems, List<JsonNode> rules, String namespace, int port, String who) {
    for (JsonNode rule : rules) {
      boolean fromNs = false;
      for (JsonNode f : rule.path("from")) {
        fromNs |= f.at("/namespaceSelector/matchLabels/kubernetes.io~1metadata.name").asText().equals(namespace);
      }
      boolean onPort = !rule.has("ports");
      for (JsonNode p : rule.path("ports")) {
        onPort |= p.path("port").asInt() == port;
      }
      if (fromNs && onPort) {
        return;
      }
    }
    problems.add("no NetworkPolicy rule lets " + who + " in from namespace " + namespace + " on port " + port);
  }

  private static final Pattern COUNTER_CALL = Pattern.compile("\\.counter\\(\"([a-z_]+)\"\\)");

  /** The counters the job's operators register (their names, as Flink's reporter ends the metric names). */
  static Set<String> operatorCounters() throws java.io.IOException {
    Set<String> out = new TreeSet<>();
    try (var files = java.nio.file.Files.walk(Repo.path("operators/src/main/java"))) {
      for (java.nio.file.Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        Matcher m = COUNTER_CALL.matcher(java.nio.file.Files.readString(f));
        while (m.find()) {
          out.add(m.group(1));
        }
      }
    }
    return out;
  }

  /** Flink's own counters among the metrics the dashboard and the alerts read. */
  static final Set<String> FLINK_COUNTERS = Set.of("flink_jobmanager_job_numRestarts",
      "flink_jobmanager_job_numberOfFailedCheckpoints", "flink_jobmanager_job_numberOfCompletedCheckpoints");

  /** Is {@code metric} a counter: Prometheus' {@code _total}, Flink's own, or an operator's counter? */
  static boolean isCounter(String metric, Set<String> operatorCounters) {
    if (metric.endsWith("_total") || FLINK_COUNTERS.contains(metric)) {
      return true;
    }
    String prefix = "flink_taskmanager_job_task_operator_";
    if (!metric.startsWith(prefix)) {
      return false;
    }
    // the operator's name, after its key groups: adapter, dlq_reason, reason
    String name = metric.substring(prefix.length()).replaceFirst("^(adapter_|dlq_reason_|reason_)", "");
    return operatorCounters.contains(name);
  }

  private static final Pattern METRIC = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");

  /** Counters read raw (outside rate()/increase()): they fall to 0 when a pod restarts. */
  static List<String> rawCounters(List<String> expressions, Set<String> operatorCounters) {
    List<String> problems = new ArrayList<>();
    for (String expr : expressions) {
      String plain = expr.replaceAll("\"(\\\\.|[^\"\\\\])*\"", "\"\"");
      Matcher m = METRIC.matcher(plain);
      while (m.find()) {
        if (!isCounter(m.group(), operatorCounters)) {
          continue;
        }
        String around = enclosingFunction(plain, m.start());
        if (!Set.of("rate", "increase", "irate").contains(around)) {
          problems.add("counter " + m.group() + " read raw (in: " + expr + ")");
        }
      }
    }
    return problems;
  }

  /** The name of the function whose parentheses enclose position {@code at} most closely ("" if none). */
  static String enclosingFunction(String expr, int at) {
    int depth = 0;
    for (int i = at - 1; i >= 0; i--) {
      char c = expr.charAt(i);
      if (c == ')') {
        depth++;
      } else if (c == '(') {
        if (depth == 0) {
          int end = i;
          while (end > 0 && expr.charAt(end - 1) == ' ') {
            end--;
          }
          int start = end;
          while (start > 0 && (Character.isLetterOrDigit(expr.charAt(start - 1)) || expr.charAt(start - 1) == '_')) {
            start--;
          }
          return expr.substring(start, end);
        }
        depth--;
      }
    }
    return "";
  }

  /** The PromQL of the alert rules. */
  static List<String> ruleExpressions(Rendered r) {
    List<String> out = new ArrayList<>();
    for (ObjectNode rule : r.all("PrometheusRule")) {
      for (JsonNode g : rule.at("/spec/groups")) {
        for (JsonNode x : g.path("rules")) {
          out.add(x.path("expr").asText());
        }
      }
    }
    return out;
  }

  /** The PromQL of the Grafana dashboard's panels. */
  static List<String> dashboardExpressions() throws java.io.IOException {
    JsonNode d = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
        Repo.k8s().resolve("base/grafana/bonestream.json").toFile());
    List<String> out = new ArrayList<>();
    for (JsonNode p : d.path("panels")) {
      for (JsonNode t : p.path("targets")) {
        if (t.hasNonNull("expr")) {
          out.add(t.get("expr").asText());
        }
      }
    }
    return out;
  }
}
