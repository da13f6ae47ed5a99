package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * The access rules of k8s/components: the schema registry's credentials on the TaskManagers only,
 * vLLM's API key on serve only, who may reach vLLM's port, and the TaskManagers' egress. Each check
 * returns its problems (empty: fine); a check whose component is not in the overlay finds nothing.
 */
final class Access {
  static final String REGISTRY_SECRET = "bonestream-registry";
  static final String VLLM_SECRET = "bonestream-vllm";
  static final String VLLM_KEY_ENV = "BONESTREAM_VLLM_API_KEY";
  static final String MERGE_BY_NAME = "kubernetes.operator.pod-template.merge-arrays-by-name";

  private Access() {}

  static Map<String, Rendered.Pod> pods(Rendered r) {
    Map<String, Rendered.Pod> m = new java.util.LinkedHashMap<>();
    m.put("JobManager", r.trainer("jobManager"));
    m.put("TaskManager", r.trainer("taskManager"));
    m.put("serve", r.serve());
    return m;
  }

  /** The volumes of a pod that hold a Secret, and the env entries that read one. */
  private static List<JsonNode> secretVolumes(Rendered.Pod pod, String secret) {
    List<JsonNode> l = new ArrayList<>();
    for (JsonNode v : pod.volumes.values()) {
      if (v.at("/secret/secretName").asText().equals(secret)) {
        l.add(v);
      }
      for (JsonNode src : v.at("/projected/sources")) {
        if (src.at("/secret/name").asText().equals(secret)) {
          l.add(v);
        }
      }
    }
    return l;
  }

  private static List<JsonNode> secretEnv(Rendered.Pod pod, String secret) {
    List<JsonNode> l = new ArrayList<>();
    for (JsonNode e : pod.env) {
      if (e.at("/valueFrom/secretKeyRef/name").asText().equals(secret)) {
        l.add(e);
      }
    }
    for (JsonNode f : pod.container().path("envFrom")) {
      if (f.at("/secretRef/name").asText().equals(secret)) {
        l.add(f);
      }
    }
    return l;
  }

  private static List<JsonNode> mountsOf(Rendered.Pod pod, String volume) {
    return pod.mounts.stream().filter(m -> m.path("name").asText().equals(volume)).toList();
  }

  /** A volume's file mode (its defaultMode; Kubernetes' default 0644). */
  static int mode(JsonNode secretVolume) {
    return secretVolume.at("/secret/defaultMode").asInt(0644);
  }

  /**
   * Registry credentials: Secret bonestream-registry, where mounted, only on the TaskManagers (they
   * decode; the JobManager never asks the registry; serve reads no instructions), mode 0440 (the job
   * refuses a file others may read or write, and the flink user reads it through fsGroup only: the
   * files belong to root), read-only; never in an environment variable; and the TaskManagers' own
   * pod template merged by name (by position, its volume and mount would overwrite the common
   * template's first ones).
   */
  static List<String> registryCredentials(Rendered r) {
    List<String> problems = new ArrayList<>();
    pods(r).forEach((name, pod) -> {
      List<JsonNode> vols = secretVolumes(pod, REGISTRY_SECRET);
      if (!name.equals("TaskManager") && !vols.isEmpty()) {
        problems.add(name + " mounts Secret " + REGISTRY_SECRET + " (the registry's credentials are the TaskManagers' only)");
      }
      if (!secretEnv(pod, REGISTRY_SECRET).isEmpty()) {
        problems.add(name + " reads Secret " + REGISTRY_SECRET + " into its environment (a file: it never reaches Flink's configuration)");
      }
      if (name.equals("TaskManager")) {
        for (JsonNode v : vols) {
          if (mode(v) != 0440) {
            problems.add("TaskManager: Secret " + REGISTRY_SECRET + " mounted with mode 0" + Integer.toOctalString(mode(v))
                + " (0440: the flink group through fsGroup, nobody else)");
          }
          List<JsonNode> mounts = mountsOf(pod, v.path("name").asText());
          if (mounts.isEmpty()) {
            problems.add("TaskManager: volume " + v.path("name").asText() + " is mounted nowhere");
          }
          for (JsonNode m : mounts) {
            if (!m.path("readOnly").asBoolean(false)) {
              problems.add("TaskManager: Secret " + REGISTRY_SECRET + " mounted at " + m.path("mountPath").asText()
                  + " is not readOnly");
            }
          }
        }
      }
    });
    JsonNode tm = r.flink().at("/spec/taskManager/podTemplate/spec");
    boolean ownArrays = tm.has("volumes") || tm.path("containers").findValue("volumeMounts") != null;
    if (ownArrays && !"true".equals(r.flinkConfiguration().get(MERGE_BY_NAME))) {
      problems.add("the TaskManagers' pod template has volumes or mounts of its own, but " + MERGE_BY_NAME
          + " is not \"true\": the operator merges them by position over the common template's");
    }
    return problems;
  }

  /**
   * vLLM's API key: with --vllm-url, serve gets the key from Secret bonestream-vllm, either as
   * BONESTREAM_VLLM_API_KEY through a secretKeyRef (never a literal) or as a --vllm-api-key-file on a
   * read-only volume of that Secret whose mode serve accepts (owner-only); no other pod gets that
   * Secret. serve's export folder (--export-dir) lies on a writable claim vLLM can share, and plain
   * http:// comes with --vllm-allow-http (serve refuses it otherwise).
   */
  static List<String> vllmKey(Rendered r) {
    List<String> problems = new ArrayList<>();
    pods(r).forEach((name, pod) -> {
      if (!name.equals("serve") && (!secretVolumes(pod, VLLM_SECRET).isEmpty() || !secretEnv(pod, VLLM_SECRET).isEmpty())) {
        problems.add(name + " gets Secret " + VLLM_SECRET + " (vLLM's API key is serve's only)");
      }
    });
    Optional<String> url = r.serveArg("--vllm-url");
    if (url.isEmpty()) {
      return problems;
    }
    Rendered.Pod serve = r.serve();
    Optional<String> file = r.serveArg("--vllm-api-key-file");
    Optional<JsonNode> env = serve.env.stream().filter(e -> e.path("name").asText().equals(VLLM_KEY_ENV)).findFirst();
    if (file.isPresent()) {
      Optional<Rendered.Pod.Resolved> res = serve.resolve(file.get());
      if (res.isEmpty() || !res.get().volume().at("/secret/secretName").asText().equals(VLLM_SECRET)) {
        problems.add("serve --vllm-api-key-file " + file.get() + " is not on a volume of Secret " + VLLM_SECRET);
      } else {
        int mode = mode(res.get().volume());
        if ((mode & 077) != 0) {
          problems.add("serve --vllm-api-key-file " + file.get() + " has mode 0" + Integer.toOctalString(mode)
              + ", which serve refuses (owner-only: 0600 or 0400); a Secret's files belong to root, so give the key as "
              + VLLM_KEY_ENV);
        }
        if (!res.get().mount().path("readOnly").asBoolean(false)) {
          problems.add("serve: the vLLM key's volume is not mounted readOnly");
        }
      }
    } else if (env.isEmpty()) {
      problems.add("serve --vllm-url without vLLM's API key (neither --vllm-api-key-file nor " + VLLM_KEY_ENV + ")");
    } else if (env.get().has("value") || !env.get().at("/valueFrom/secretKeyRef/name").asText().equals(VLLM_SECRET)) {
      problems.add("serve's " + VLLM_KEY_ENV + " does not come from Secret " + VLLM_SECRET + " (a secretKeyRef)");
    }
    String dir = r.serveArg("--export-dir").orElse("");
    Optional<Rendered.Pod.Resolved> out = dir.isEmpty() ? Optional.empty() : serve.resolve(dir);
    if (out.isEmpty() || !out.get().volume().has("persistentVolumeClaim")
        || out.get().mount().path("readOnly").asBoolean(false)) {
      problems.add("serve --export-dir " + dir + " is not on a writable PersistentVolumeClaim (vLLM reads the same folder)");
    }
    if (url.get().startsWith("http://") && !r.serveArgs().contains("--vllm-allow-http")) {
      problems.add("serve --vllm-url " + url.get() + " is plain http without --vllm-allow-http: serve refuses it");
    }
    return problems;
  }

  /** A NetworkPolicy peer, as a short description. */
  static String peer(JsonNode p) {
    List<String> parts = new ArrayList<>();
    if (p.has("namespaceSelector")) {
      parts.add("namespaces " + new java.util.TreeMap<>(labels(p.path("namespaceSelector"))));
    }
    if (p.has("podSelector")) {
      parts.add("pods " + new java.util.TreeMap<>(labels(p.path("podSelector"))));
    }
    if (p.has("ipBlock")) {
      parts.add("ipBlock " + p.at("/ipBlock/cidr").asText() + " except " + p.at("/ipBlock/except"));
    }
    return String.join(" ", parts);
  }

  static Map<String, String> labels(JsonNode selector) {
    Map<String, String> m = new HashMap<>();
    selector.path("matchLabels").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
    if (selector.has("matchExpressions")) {
      m.put("(matchExpressions)", selector.path("matchExpressions").toString());
    }
    return m;
  }

  static Set<String> ports(JsonNode rule) {
    Set<String> s = new TreeSet<>();
    for (JsonNode p : rule.path("ports")) {
      s.add(p.path("port").asText() + "/" + p.path("protocol").asText("TCP") + (p.has("endPort") ? "-" + p.path("endPort").asText() : ""));
    }
    return s;
  }

  static boolean selects(JsonNode selector, Map<String, String> podLabels) {
    Map<String, String> want = labels(selector);
    return want.entrySet().stream().allMatch(e -> e.getValue().equals(podLabels.get(e.getKey())));
  }

  static Map<String, String> serveLabels(Rendered r) {
    Map<String, String> m = new HashMap<>();
    r.serveDeployment().at("/spec/template/metadata/labels").fields()
        .forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
    return m;
  }

  /**
   * vLLM's pods (app.kubernetes.io/name: vllm), where serve has --vllm-url: an ingress policy selects
   * them; every rule has peers and ports; the only port is vLLM's (from --vllm-url); the only peers are
   * serve's pods (of this namespace), Prometheus' namespace and the pods labelled
   * bonestream.io/vllm-client: "true".
   */
  static List<String> vllmPolicy(Rendered r) {
    List<String> problems = new ArrayList<>();
    Optional<String> url = r.serveArg("--vllm-url");
    if (url.isEmpty()) {
      return problems;
    }
    URI u = URI.create(url.get());
    int port = u.getPort() > 0 ? u.getPort() : u.getScheme().equals("https") ? 443 : 80;
    Map<String, String> vllm = Map.of("app.kubernetes.io/name", "vllm");
    Map<String, String> serve = serveLabels(r);
    Set<String> allowed = Set.of("namespaces {kubernetes.io/metadata.name=monitoring}",
        "pods {bonestream.io/vllm-client=true}");
    boolean covered = false;
    boolean serveAdmitted = false;
    for (ObjectNode p : r.all("NetworkPolicy")) {
      JsonNode spec = p.path("spec");
      boolean ingress = !spec.has("policyTypes") || spec.path("policyTypes").toString().contains("Ingress");
      if (!ingress || !selects(spec.path("podSelector"), vllm)) {
        continue;
      }
      covered = true;
      String name = p.at("/metadata/name").asText();
      for (JsonNode rule : spec.path("ingress")) {
        if (!rule.has("from") || rule.path("from").isEmpty()) {
          problems.add(name + ": an ingress rule without 'from' lets every pod reach vLLM");
          continue;
        }
        Set<String> ports = ports(rule);
        if (!ports.equals(Set.of(port + "/TCP"))) {
          problems.add(name + ": admits ports " + (ports.isEmpty() ? "(all)" : ports) + " (vLLM's " + port + "/TCP only)");
        }
        for (JsonNode f : rule.path("from")) {
          String d = peer(f);
          boolean isServe = !f.has("namespaceSelector") && !f.has("ipBlock") && f.has("podSelector")
              && !labels(f.path("podSelector")).isEmpty() && selects(f.path("podSelector"), serve)
              && labels(f.path("podSelector")).keySet().containsAll(Set.of("app.kubernetes.io/component"));
          serveAdmitted |= isServe;
          if (!isServe && !allowed.contains(d)) {
            problems.add(name + ": admits " + d + " to vLLM (only serve, Prometheus and vLLM's labelled clients)");
          }
        }
      }
    }
    if (!covered) {
      problems.add("vLLM's pods (app.kubernetes.io/name: vllm) are behind no ingress NetworkPolicy: anyone reaches its LoRA API");
    } else if (!serveAdmitted) {
      problems.add("no NetworkPolicy rule lets serve reach vLLM on port " + port);
    }
    return problems;
  }

  /**
   * The TaskManagers' egress, where a policy restricts it: DNS (kube-dns, UDP and TCP 53), the API
   * server (an ipBlock that is an address, on 443 or 6443: Kubernetes HA), the Flink pods (every
   * port), Kafka's brokers on job.yaml's bootstrap port, the S3 endpoint (its namespace and port, or
   * HTTPS outside the cluster without s3.endpoint), and the registry where the TaskManagers have its
   * credentials; nothing else, no rule to everyone. The policy selects no other pods.
   */
  static List<String> taskManagerEgress(Rendered r) {
    List<String> problems = new ArrayList<>();
    String app = r.flink().at("/metadata/name").asText();
    Map<String, String> tm = Map.of("app", app, "type", "flink-native-kubernetes", "component", "taskmanager");
    Map<String, String> jm = Map.of("app", app, "type", "flink-native-kubernetes", "component", "jobmanager");
    List<JsonNode> rules = new ArrayList<>();
    for (ObjectNode p : r.all("NetworkPolicy")) {
      JsonNode spec = p.path("spec");
      if (!spec.path("policyTypes").toString().contains("Egress")) {
        continue;
      }
      if (selects(spec.path("podSelector"), jm) || selects(spec.path("podSelector"), serveLabels(r))) {
        problems.add(p.at("/metadata/name").asText() + " restricts the egress of pods other than the TaskManagers ("
            + new java.util.TreeMap<>(labels(spec.path("podSelector"))) + ")");
      }
      if (selects(spec.path("podSelector"), tm)) {
        spec.path("egress").forEach(rules::add);
      }
    }
    if (rules.isEmpty()) {
      return problems; // egress open (taskmanager-egress not added)
    }
    JsonNode job = r.jobYaml();
    String bootstrap = job.at("/kafka/bootstrap-servers").asText().split(",")[0];
    String cluster = bootstrap.replaceFirst("-kafka-bootstrap.*$", "");
    String kafkaPort = bootstrap.substring(bootstrap.lastIndexOf(':') + 1) + "/TCP";
    String endpoint = r.flinkConfiguration().getOrDefault("s3.endpoint", "");
    String s3Peer;
    String s3Port;
    if (endpoint.isEmpty()) {
      s3Peer = "ipBlock 0.0.0.0/0";
      s3Port = "443/TCP";
    } else {
      URI u = URI.create(endpoint);
      String[] host = u.getHost().split("\\.");
      s3Peer = host.length >= 2 ? "namespaces {kubernetes.io/metadata.name=" + host[1] + "}" : "pods";
      s3Port = (u.getPort() > 0 ? u.getPort() : u.getScheme().equals("https") ? 443 : 80) + "/TCP";
    }
    boolean registry = secretVolumes(r.trainer("taskManager"), REGISTRY_SECRET).size() > 0;
    boolean dns = false, api = false, flink = false, kafka = false, s3 = false, reg = false;
    for (JsonNode rule : rules) {
      if (!rule.has("to") || rule.path("to").isEmpty()) {
        problems.add("TaskManager egress: a rule without 'to' lets them reach everything " + ports(rule));
        continue;
      }
      Set<String> ports = ports(rule);
      for (JsonNode t : rule.path("to")) {
        String d = peer(t);
        if (d.equals("namespaces {kubernetes.io/metadata.name=kube-system} pods {k8s-app=kube-dns}")
            && ports.equals(Set.of("53/TCP", "53/UDP"))) {
          dns = true;
        } else if (t.has("podSelector") && !t.has("namespaceSelector")
            && labels(t.path("podSelector")).equals(Map.of("app", app, "type", "flink-native-kubernetes"))
            && ports.isEmpty()) {
          flink = true;
        } else if (d.equals("pods {strimzi.io/cluster=" + cluster + ", strimzi.io/kind=Kafka}")
            && ports.equals(Set.of(kafkaPort))) {
          kafka = true;
        } else if (d.startsWith(s3Peer) && ports.equals(Set.of(s3Port))) {
          s3 = true;
        } else if (t.has("ipBlock") && !t.at("/ipBlock/cidr").asText().startsWith("0.0.0.0/")
            && !ports.isEmpty() && Set.of("443/TCP", "6443/TCP").containsAll(ports)) {
          if (!t.at("/ipBlock/cidr").asText().matches("\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+|[0-9a-fA-F:]+/\\d+")) {
            problems.add("TaskManager egress: the API server's ipBlock " + t.at("/ipBlock/cidr").asText()
                + " is not an address (set it: components/taskmanager-egress)");
          }
          api = true;
        } else if (registry && !ports.isEmpty() && !t.has("ipBlock") && t.has("namespaceSelector")
            && !labels(t.path("namespaceSelector")).isEmpty()) {
          reg = true; // the registry: a namespace (with or without a podSelector), on its ports
        } else if (registry && !ports.isEmpty() && t.has("ipBlock") && !t.at("/ipBlock/cidr").asText().startsWith("0.0.0.0/")) {
          reg = true; // a registry outside the cluster, by address
        } else {
          problems.add("TaskManager egress: a rule to " + (d.isEmpty() ? "(every pod of the namespace)" : d) + " on "
              + (ports.isEmpty() ? "every port" : ports) + " that no TaskManager needs");
        }
      }
    }
    if (registry && !reg) {
      problems.add("TaskManager egress: the TaskManagers have the registry's credentials but may not reach a registry");
    }
    if (!dns) {
      problems.add("TaskManager egress: no DNS (kube-system's kube-dns pods, 53/UDP and 53/TCP)");
    }
    if (!api) {
      problems.add("TaskManager egress: no Kubernetes API server (Kubernetes HA: the TaskManagers find the JobManager there)");
    }
    if (!flink) {
      problems.add("TaskManager egress: not to the other Flink pods on every port (RPC, blob server, data exchange)");
    }
    if (!kafka) {
      problems.add("TaskManager egress: not to Kafka's brokers (strimzi.io/cluster " + cluster + ") on " + kafkaPort);
    }
    if (!s3) {
      problems.add("TaskManager egress: not to the S3 store " + (endpoint.isEmpty() ? "(HTTPS outside the cluster)" : endpoint)
          + " (" + s3Peer + " on " + s3Port + ")");
    }
    return problems;
  }
}
