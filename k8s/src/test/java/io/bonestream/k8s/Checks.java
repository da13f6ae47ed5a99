package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names that must agree across the rendered manifests, the job's config and the README. Each check
 * returns its problems (empty: all agree), so that a test can also show it catches a broken copy.
 */
final class Checks {
  /** {@code ${dir:/path:key}}: Kafka's DirectoryConfigProvider reads file key in folder path. */
  static final Pattern DIR_REFERENCE = Pattern.compile("\\$\\{dir:([^:}]+):([^}]+)}");
  static final String PROMETHEUS_PORT_KEY = "metrics.reporter.prom.port";

  private Checks() {}

  /** The KafkaTopics are the job's five topics; serve follows the adapters topic. */
  static List<String> topics(Rendered r) {
    List<String> problems = new ArrayList<>();
    JsonNode topics = r.jobYaml().path("topics");
    Set<String> wanted = new TreeSet<>();
    for (String k : List.of("instructions", "adapters", "dead-letters", "gated", "control")) {
      if (!topics.path(k).isTextual()) {
        problems.add("job.yaml: topics." + k + " is not set (the manifests name every topic)");
      } else {
        wanted.add(topics.path(k).asText());
      }
    }
    Set<String> defined = new TreeSet<>(topicNames(r).keySet());
    if (!defined.equals(wanted)) {
      problems.add("KafkaTopics " + defined + " are not job.yaml's topics " + wanted);
    }
    String serveTopic = r.serveArg("--topic").orElse("(none)");
    if (!serveTopic.equals(topics.path("adapters").asText())) {
      problems.add("serve --topic " + serveTopic + " is not job.yaml's topics.adapters "
          + topics.path("adapters").asText());
    }
    return problems;
  }

  /** Kafka topic name to its KafkaTopic. */
  static Map<String, ObjectNode> topicNames(Rendered r) {
    Map<String, ObjectNode> m = new TreeMap<>();
    for (ObjectNode t : r.all("KafkaTopic")) {
      String name = t.at("/spec/topicName").isTextual() ? t.at("/spec/topicName").asText()
          : t.at("/metadata/name").asText();
      m.put(name, t);
    }
    return m;
  }

  /** One Strimzi cluster holds the topics, and the job and serve reach its bootstrap service. */
  static List<String> kafkaCluster(Rendered r) {
    List<String> problems = new ArrayList<>();
    Set<String> clusters = new TreeSet<>();
    r.all("KafkaTopic").forEach(t -> clusters.add(t.at("/metadata/labels/strimzi.io~1cluster").asText("")));
    if (clusters.size() != 1 || clusters.contains("")) {
      problems.add("the KafkaTopics name no single Strimzi cluster (label strimzi.io/cluster): " + clusters);
      return problems;
    }
    String prefix = clusters.iterator().next() + "-kafka-bootstrap:";
    String job = r.jobYaml().at("/kafka/bootstrap-servers").asText();
    String serve = r.serveArg("--bootstrap").orElse("(none)");
    if (!job.startsWith(prefix)) {
      problems.add("job.yaml kafka.bootstrap-servers " + job + " is not the bootstrap service of the topics' "
          + "cluster (" + prefix + "PORT)");
    }
    if (!serve.equals(job)) {
      problems.add("serve --bootstrap " + serve + " is not job.yaml's kafka.bootstrap-servers " + job);
    }
    return problems;
  }

  /** serve's port, its Service, probes and ServiceMonitor agree. */
  static List<String> servePorts(Rendered r) {
    List<String> problems = new ArrayList<>();
    Rendered.Pod pod = r.serve();
    JsonNode c = pod.container();
    String flag = r.serveArg("--port").orElse("8000");
    if (pod.port(Yaml.MAPPER.getNodeFactory().numberNode(Integer.parseInt(flag))).isEmpty()) {
      problems.add("serve listens on " + flag + " (--port), which is no containerPort of " + pod.what);
    }
    for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
      JsonNode get = c.path(probe).path("httpGet");
      if (get.isMissingNode()) {
        problems.add(pod.what + ": no " + probe + " (httpGet)");
        continue;
      }
      if (pod.port(get.path("port")).isEmpty()) {
        problems.add(pod.what + ": " + probe + " port " + get.path("port") + " is no container port");
      }
    }
    expect(problems, c.at("/livenessProbe/httpGet/path").asText(), "/healthz", pod.what + " livenessProbe path");
    expect(problems, c.at("/readinessProbe/httpGet/path").asText(), "/readyz", pod.what + " readinessProbe path");

    ObjectNode d = r.serveDeployment();
    JsonNode podLabels = d.at("/spec/template/metadata/labels");
    ObjectNode svc = r.one("Service");
    if (!matches(svc.at("/spec/selector"), podLabels)) {
      problems.add("Service " + name(svc) + " selects " + svc.at("/spec/selector") + ", not the pods "
          + podLabels);
    }
    if (!matches(d.at("/spec/selector/matchLabels"), podLabels)) {
      problems.add("Deployment " + name(d) + ": selector does not match its pod labels");
    }
    for (JsonNode p : svc.at("/spec/ports")) {
      JsonNode target = p.has("targetPort") ? p.get("targetPort") : p.get("port");
      if (pod.port(target).isEmpty()) {
        problems.add("Service " + name(svc) + " port " + p.path("name").asText() + " targets " + target
            + ", no container port of " + pod.what);
      }
    }
    ObjectNode sm = r.one("ServiceMonitor");
    if (!matches(sm.at("/spec/selector/matchLabels"), svc.at("/metadata/labels"))) {
      problems.add("ServiceMonitor " + name(sm) + " selects " + sm.at("/spec/selector/matchLabels")
          + ", not the Service's labels " + svc.at("/metadata/labels"));
    }
    for (JsonNode e : sm.at("/spec/endpoints")) {
      boolean found = false;
      for (JsonNode p : svc.at("/spec/ports")) {
        found |= p.path("name").asText().equals(e.path("port").asText());
      }
      if (!found) {
        problems.add("ServiceMonitor " + name(sm) + " scrapes port " + e.path("port").asText()
            + ", which the Service does not name");
      }
      expect(problems, e.path("path").asText(), "/metrics", "ServiceMonitor " + name(sm) + " path");
    }
    return problems;
  }

  /** The PodMonitor finds the Flink pods and their Prometheus reporter's port. */
  static List<String> flinkMetrics(Rendered r) {
    List<String> problems = new ArrayList<>();
    ObjectNode fd = r.flink();
    ObjectNode pm = r.one("PodMonitor");
    // the operator labels every JobManager and TaskManager pod app=<name>, type=flink-native-kubernetes
    JsonNode flinkPodLabels = Yaml.MAPPER.createObjectNode().put("app", name(fd))
        .put("type", "flink-native-kubernetes");
    if (!matches(pm.at("/spec/selector/matchLabels"), flinkPodLabels)) {
      problems.add("PodMonitor " + name(pm) + " selects " + pm.at("/spec/selector/matchLabels")
          + ", not the Flink pods " + flinkPodLabels);
    }
    String reporterPort = r.flinkConfiguration().get(PROMETHEUS_PORT_KEY);
    for (String role : List.of("jobManager", "taskManager")) {
      Rendered.Pod pod = r.trainer(role);
      for (JsonNode e : pm.at("/spec/podMetricsEndpoints")) {
        Optional<JsonNode> port = pod.port(e.path("port"));
        if (port.isEmpty()) {
          problems.add("PodMonitor " + name(pm) + " scrapes port " + e.path("port").asText() + ", no container port of "
              + pod.what);
        } else if (!String.valueOf(port.get().path("containerPort").asInt()).equals(reporterPort)) {
          problems.add(pod.what + ": port " + e.path("port").asText() + " is " + port.get().path("containerPort")
              + " but the Prometheus reporter listens on " + PROMETHEUS_PORT_KEY + "=" + reporterPort);
        }
        expect(problems, e.path("path").asText(), "/metrics", "PodMonitor " + name(pm) + " path");
      }
    }
    return problems;
  }

  /**
   * Every ConfigMap and Secret a pod uses exists or is documented, and every file the programs are told to
   * read lies on a volume that holds it.
   */
  static List<String> volumesAndFiles(Rendered r, Map<String, Set<String>> documentedSecrets,
      Set<String> documentedClaims) {
    List<String> problems = new ArrayList<>();
    List<Rendered.Pod> pods = List.of(r.trainer("jobManager"), r.trainer("taskManager"), r.serve());
    for (Rendered.Pod pod : pods) {
      for (JsonNode m : pod.mounts) {
        if (!pod.volumes.containsKey(m.path("name").asText())) {
          problems.add(pod.what + ": volumeMount " + m.path("name").asText() + " names no volume");
        }
      }
      for (JsonNode v : pod.volumes.values()) {
        if (v.has("configMap") && r.find("ConfigMap", v.at("/configMap/name").asText()).isEmpty()) {
          problems.add(pod.what + ": volume " + v.path("name").asText() + " mounts ConfigMap "
              + v.at("/configMap/name").asText() + ", which the overlay does not define");
        }
        if (v.has("secret") && !documentedSecrets.containsKey(v.at("/secret/secretName").asText())) {
          problems.add(pod.what + ": volume " + v.path("name").asText() + " mounts Secret "
              + v.at("/secret/secretName").asText() + ", which k8s/README.md does not list");
        }
        if (v.has("persistentVolumeClaim") && !documentedClaims.contains(v.at("/persistentVolumeClaim/claimName").asText())) {
          problems.add(pod.what + ": claim " + v.at("/persistentVolumeClaim/claimName").asText()
              + " is not listed in k8s/README.md");
        }
      }
      for (JsonNode e : pod.env) {
        JsonNode ref = e.at("/valueFrom/secretKeyRef");
        if (!ref.isMissingNode()) {
          Set<String> keys = documentedSecrets.get(ref.path("name").asText());
          if (keys == null || !keys.contains(ref.path("key").asText())) {
            problems.add(pod.what + ": env " + e.path("name").asText() + " reads Secret " + ref.path("name").asText()
                + " key " + ref.path("key").asText() + ", which k8s/README.md does not list");
          }
        }
      }
    }
    // the files each program reads
    Rendered.Pod jm = r.trainer("jobManager");
    Rendered.Pod tm = r.trainer("taskManager");
    Rendered.Pod serve = r.serve();
    file(problems, r, jm, r.jobConfigPath(), documentedSecrets, "the job's --config");
    JsonNode job;
    try {
      job = r.jobYaml();
    } catch (AssertionError e) {
      problems.add(jm.what + ": " + e.getMessage());
      return problems;
    }
    for (Rendered.Pod p : List.of(jm, tm)) {
      file(problems, r, p, job.path("model").asText(), documentedSecrets, "job.yaml model");
      kafkaFiles(problems, r, p, asMap(job.at("/kafka/properties")), documentedSecrets, "job.yaml kafka.properties");
      if (job.at("/signing/private-key-file").isTextual()) {
        file(problems, r, p, job.at("/signing/private-key-file").asText(), documentedSecrets,
            "job.yaml signing.private-key-file");
      }
    }
    for (String flag : List.of("--model", "--kafka-config", "--admin-token-file")) {
      Optional<String> v = r.serveArg(flag);
      if (v.isPresent()) {
        file(problems, r, serve, v.get(), documentedSecrets, "serve " + flag);
      }
    }
    for (String key : r.serveArgs("--public-key")) {
      file(problems, r, serve, key, documentedSecrets, "serve --public-key");
    }
    try {
      kafkaFiles(problems, r, serve, r.serveKafkaProperties(), documentedSecrets, "serve's Kafka properties");
    } catch (AssertionError e) {
      problems.add(serve.what + ": " + e.getMessage());
    }
    if (!r.serveArg("--model").orElse("").equals(job.path("model").asText())) {
      problems.add("serve --model " + r.serveArg("--model").orElse("(none)") + " is not the job's model "
          + job.path("model").asText() + " (the subscriber checks the base model's fingerprint)");
    }
    return problems;
  }

  /**
   * Signed manifests: job.yaml names a private key file that lies on a read-only Secret volume of the
   * JobManager and of every TaskManager; serve trusts public keys (--public-key, at least one) and never
   * serves unsigned manifests; serve does not mount the private key; the key file names are those of
   * {@code bonestream keygen} (NAME.key, NAME.pub, the same NAME); no key material is in the manifests.
   */
  static List<String> signing(Rendered r) {
    List<String> problems = new ArrayList<>();
    JsonNode job = r.jobYaml();
    String keyFile = job.at("/signing/private-key-file").asText(null);
    Set<String> privateSecrets = new TreeSet<>();
    if (keyFile == null) {
      problems.add("job.yaml: no signing.private-key-file (every manifest must be signed, with a key from a mounted"
          + " Secret)");
    } else {
      for (String role : List.of("jobManager", "taskManager")) {
        Rendered.Pod pod = r.trainer(role);
        Optional<Rendered.Pod.Resolved> res = pod.resolve(keyFile);
        if (res.isEmpty()) {
          problems.add(pod.what + ": job.yaml signing.private-key-file " + keyFile + " is on no mounted volume");
        } else if (!res.get().volume().has("secret")) {
          problems.add(pod.what + ": job.yaml signing.private-key-file " + keyFile + " is on volume "
              + res.get().volume().path("name").asText() + ", which is no Secret");
        } else {
          privateSecrets.add(res.get().volume().at("/secret/secretName").asText());
          if (!res.get().mount().path("readOnly").asBoolean(false)) {
            problems.add(pod.what + ": the signing key's volume " + res.get().volume().path("name").asText()
                + " is not mounted readOnly");
          }
        }
      }
    }
    Rendered.Pod serve = r.serve();
    List<String> publicKeys = r.serveArgs("--public-key");
    if (publicKeys.isEmpty()) {
      problems.add(serve.what + ": serve has no --public-key (it would refuse to start, or serve any manifest with"
          + " --allow-unsigned)");
    }
    if (r.serveArgs().contains("--allow-unsigned")) {
      problems.add(serve.what + ": serve has --allow-unsigned (it would serve unsigned manifests); production"
          + " trusts public keys only");
    }
    for (String key : publicKeys) {
      Optional<Rendered.Pod.Resolved> res = serve.resolve(key);
      if (res.isPresent() && !res.get().volume().has("secret") && !res.get().volume().has("configMap")) {
        problems.add(serve.what + ": --public-key " + key + " is on volume " + res.get().volume().path("name").asText()
            + ", which is neither a Secret nor a ConfigMap");
      }
    }
    for (JsonNode v : serve.volumes.values()) {
      if (v.has("secret") && privateSecrets.contains(v.at("/secret/secretName").asText())) {
        problems.add(serve.what + ": mounts the job's private key Secret " + v.at("/secret/secretName").asText()
            + " (volume " + v.path("name").asText() + "); serve needs public keys only");
      }
    }
    if (keyFile != null) {
      String name = fileName(keyFile).replaceFirst("\\.key$", "");
      if (!fileName(keyFile).endsWith(".key")) {
        problems.add("job.yaml signing.private-key-file " + keyFile + " is not a file bonestream keygen writes (NAME.key)");
      } else if (publicKeys.stream().noneMatch(k -> fileName(k).equals(name + ".pub"))) {
        problems.add("serve trusts " + publicKeys + ", none of them " + name + ".pub, the public key of the job's "
            + fileName(keyFile));
      }
    }
    for (ObjectNode o : r.objects) {
      String text = o.toString();
      if (text.contains("PRIVATE KEY-----") || text.contains("PUBLIC KEY-----")) {
        problems.add(o.path("kind").asText() + " " + name(o) + " holds key material; keys come from Secrets created"
            + " apart from the manifests");
      }
    }
    return problems;
  }

  /** The region Flink's S3 file systems sign for when the configuration names none. */
  static final String DEFAULT_S3_REGION = "us-east-1";
  static final List<String> S3_CREDENTIAL_ENV = List.of("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");

  /**
   * serve reads the claim checks where the trainer writes them: job.yaml's blob-store is an S3 URI
   * serve fetches (s3, s3a, s3p); serve's --s3-endpoint, addressing and region are the
   * FlinkDeployment's s3.endpoint, s3.path.style.access and s3.endpoint.region (default us-east-1);
   * its credentials come from a Secret of its own, never the trainer's (which can delete checkpoints)
   * nor literal values, and the policy documented for them (config/serve-s3-policy.json) allows only
   * reading objects under job.yaml's blob-store.
   */
  static List<String> s3(Rendered r) {
    List<String> problems = new ArrayList<>();
    Map<String, String> flink = r.flinkConfiguration();
    String blobStore = r.jobYaml().path("blob-store").asText("");
    String scheme = blobStore.contains(":") ? blobStore.substring(0, blobStore.indexOf(':')) : "";
    if (!io.bonestream.subscriber.S3BlobFetcher.SCHEMES.contains(scheme)) {
      problems.add("job.yaml blob-store " + blobStore + " is no S3 URI serve can fetch ("
          + new TreeSet<>(io.bonestream.subscriber.S3BlobFetcher.SCHEMES) + ")");
    }
    Rendered.Pod serve = r.serve();
    String endpoint = flink.get("s3.endpoint");
    Optional<String> serveEndpoint = r.serveArg("--s3-endpoint");
    if (!Optional.ofNullable(endpoint).equals(serveEndpoint)) {
      problems.add("serve --s3-endpoint " + serveEndpoint.orElse("(none: AWS)") + " is not the FlinkDeployment's "
          + "s3.endpoint " + (endpoint == null ? "(none: AWS)" : endpoint));
    }
    List<String> args = r.serveArgs();
    boolean pathStyle = args.contains("--s3-path-style");
    boolean virtualHost = args.contains("--s3-virtual-host");
    if (pathStyle && virtualHost) {
      problems.add(serve.what + ": serve has both --s3-path-style and --s3-virtual-host (it would not start)");
    }
    boolean servePathStyle = pathStyle || (serveEndpoint.isPresent() && !virtualHost);
    boolean flinkPathStyle = Boolean.parseBoolean(flink.getOrDefault("s3.path.style.access", "false"));
    if (servePathStyle != flinkPathStyle) {
      problems.add("serve makes " + (servePathStyle ? "path-style" : "virtual-host") + " S3 requests, the "
          + "FlinkDeployment's s3.path.style.access is " + flinkPathStyle);
    }
    String region = flink.getOrDefault("s3.endpoint.region", DEFAULT_S3_REGION);
    String serveRegion = r.serveArg("--s3-region").orElse("(none: AWS_REGION or " + DEFAULT_S3_REGION + ")");
    if (!serveRegion.equals(region)) {
      problems.add("serve --s3-region " + serveRegion + " is not the trainer's S3 region " + region);
    }
    for (String name : S3_CREDENTIAL_ENV) {
      JsonNode trainer = envVar(r.trainer("jobManager"), name);
      JsonNode mine = envVar(serve, name);
      if (mine == null) {
        problems.add(serve.what + ": no env " + name + " (the S3 credentials)");
      } else if (mine.has("value")) {
        problems.add(serve.what + ": env " + name + " has a literal value; credentials come from a Secret");
      } else if (trainer != null && mine.at("/valueFrom/secretKeyRef/name").equals(trainer.at("/valueFrom/secretKeyRef/name"))) {
        problems.add(serve.what + ": env " + name + " reads the trainer's Secret "
            + trainer.at("/valueFrom/secretKeyRef/name").asText() + " (serve gets read-only credentials of its own)");
      }
    }
    problems.addAll(servePolicy(readServePolicy(), blobStore));
    return problems;
  }

  static final Path SERVE_S3_POLICY = Repo.k8s().resolve("base/config/serve-s3-policy.json");

  static JsonNode readServePolicy() {
    try {
      return new com.fasterxml.jackson.databind.ObjectMapper().readTree(SERVE_S3_POLICY.toFile());
    } catch (java.io.IOException e) {
      throw new AssertionError("cannot read " + SERVE_S3_POLICY + ": " + e.getMessage());
    }
  }

  /** The S3 policy of serve's credentials: Allow s3:GetObject on the blob store's objects, nothing else. */
  static List<String> servePolicy(JsonNode policy, String blobStore) {
    List<String> problems = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("^s3[ap]?://([^/]+)/?(.*?)/?$").matcher(blobStore);
    if (!m.matches()) {
      return problems; // reported above
    }
    String objects = "arn:aws:s3:::" + m.group(1) + "/" + (m.group(2).isEmpty() ? "" : m.group(2) + "/") + "*";
    if (!policy.path("Statement").isArray() || policy.path("Statement").isEmpty()) {
      problems.add("serve-s3-policy.json has no Statement");
    }
    for (JsonNode st : policy.path("Statement")) {
      if (!st.path("Effect").asText().equals("Allow")) {
        continue;
      }
      for (JsonNode a : asList(st.path("Action"))) {
        if (!a.asText().equals("s3:GetObject")) {
          problems.add("serve-s3-policy.json allows " + a.asText() + " (serve only reads objects: s3:GetObject)");
        }
      }
      for (JsonNode res : asList(st.path("Resource"))) {
        if (!res.asText().equals(objects)) {
          problems.add("serve-s3-policy.json allows " + res.asText() + ", not only the blob store's objects " + objects);
        }
      }
    }
    return problems;
  }

  private static List<JsonNode> asList(JsonNode n) {
    List<JsonNode> out = new ArrayList<>();
    if (n.isArray()) {
      n.forEach(out::add);
    } else if (!n.isMissingNode()) {
      out.add(n);
    }
    return out;
  }

  private static JsonNode envVar(Rendered.Pod pod, String name) {
    for (JsonNode e : pod.env) {
      if (e.path("name").asText().equals(name)) {
        return e;
      }
    }
    return null;
  }

  private static String fileName(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /** Where the native libraries are unpacked: a writable volume (emptyDir) in every pod. */
  static List<String> writableCaches(Rendered r) {
    List<String> problems = new ArrayList<>();
    String opts = r.flinkConfiguration().getOrDefault("env.java.opts.all", "");
    Matcher m = Pattern.compile("-Dorg\\.bytedeco\\.javacpp\\.cachedir=(\\S+)").matcher(opts);
    for (String role : List.of("jobManager", "taskManager")) {
      Rendered.Pod pod = r.trainer(role);
      if (!m.reset().find()) {
        problems.add("env.java.opts.all sets no -Dorg.bytedeco.javacpp.cachedir");
      } else {
        emptyDir(problems, pod, m.group(1), "the JavaCPP cache dir");
      }
      emptyDir(problems, pod, pod.env("DJL_CACHE_DIR").orElse("(unset)"), "DJL_CACHE_DIR");
      if (!"1".equals(pod.env("OMP_NUM_THREADS").orElse(null))) {
        problems.add(pod.what + ": OMP_NUM_THREADS is not 1 (a TaskManager's slots train in parallel)");
      }
    }
    return problems;
  }

  private static void emptyDir(List<String> problems, Rendered.Pod pod, String path, String what) {
    Optional<Rendered.Pod.Resolved> v = pod.resolve(path);
    if (v.isEmpty() || !v.get().volume().has("emptyDir")) {
      problems.add(pod.what + ": " + what + " " + path + " is on no emptyDir volume");
    }
  }

  private static void kafkaFiles(List<String> problems, Rendered r, Rendered.Pod pod, Map<String, String> props,
      Map<String, Set<String>> secrets, String what) {
    for (Map.Entry<String, String> e : props.entrySet()) {
      Matcher m = DIR_REFERENCE.matcher(e.getValue());
      while (m.find()) {
        file(problems, r, pod, m.group(1) + "/" + m.group(2), secrets, what + " " + e.getKey());
      }
      if (e.getKey().endsWith(".location")) {
        file(problems, r, pod, e.getValue(), secrets, what + " " + e.getKey());
      }
    }
  }

  /** A file a program reads: on a volume of the pod, and the ConfigMap or Secret behind it has the key. */
  private static void file(List<String> problems, Rendered r, Rendered.Pod pod, String path,
      Map<String, Set<String>> secrets, String what) {
    Optional<Rendered.Pod.Resolved> res = pod.resolve(path);
    if (res.isEmpty()) {
      problems.add(pod.what + ": " + what + " " + path + " is on no mounted volume");
      return;
    }
    JsonNode v = res.get().volume();
    String key = res.get().key();
    if (v.has("configMap")) {
      String cm = v.at("/configMap/name").asText();
      if (r.find("ConfigMap", cm).isPresent() && !r.configMapData(cm).containsKey(key)) {
        problems.add(pod.what + ": " + what + " " + path + ": ConfigMap " + cm + " has no key " + key);
      }
    } else if (v.has("secret")) {
      Set<String> keys = secrets.get(v.at("/secret/secretName").asText());
      if (keys != null && !keys.contains(key)) {
        problems.add(pod.what + ": " + what + " " + path + ": Secret " + v.at("/secret/secretName").asText()
            + " has no key " + key + " in k8s/README.md");
      }
    } else if (!v.has("persistentVolumeClaim")) {
      problems.add(pod.what + ": " + what + " " + path + " is on volume " + v.path("name").asText()
          + ", which holds no such file");
    }
  }

  /** The Secrets k8s/README.md tells users to create: rows "| `name` | `key`, `key` | ...". */
  static Map<String, Set<String>> documentedSecrets() {
    Map<String, Set<String>> m = new TreeMap<>();
    Pattern row = Pattern.compile("^\\| `([a-z0-9.-]+)` \\| ((?:`[^`]+`(?:, )?)+) \\|.*$");
    for (String line : readme().split("\n")) {
      Matcher x = row.matcher(line);
      if (x.matches()) {
        Set<String> keys = new LinkedHashSet<>();
        Matcher k = Pattern.compile("`([^`]+)`").matcher(x.group(2));
        while (k.find()) {
          keys.add(k.group(1));
        }
        m.put(x.group(1), keys);
      }
    }
    return m;
  }

  /**
   * The Secrets k8s/README.md's commands create ({@code kubectl -n NS create secret generic NAME
   * --from-file=KEY=PATH --from-literal=KEY=...}): name to key to the file it is made of (null for a
   * literal).
   */
  static Map<String, Map<String, String>> secretCommands() {
    Map<String, Map<String, String>> m = new TreeMap<>();
    Pattern command = Pattern.compile("^kubectl(?: -n \\S+)? create secret generic ([a-z0-9.-]+) (.*)$");
    Pattern source = Pattern.compile("--from-(file|literal)=([^=\\s]+)=(\\S+)");
    for (String line : readme().split("\n")) {
      Matcher c = command.matcher(line.strip());
      if (c.matches()) {
        Map<String, String> keys = new TreeMap<>();
        Matcher k = source.matcher(c.group(2));
        while (k.find()) {
          keys.put(k.group(2), k.group(1).equals("file") ? k.group(3) : null);
        }
        m.put(c.group(1), keys);
      }
    }
    return m;
  }

  /** The PersistentVolumeClaims k8s/README.md tells users to create: "PersistentVolumeClaim `name`". */
  static Set<String> documentedClaims() {
    Set<String> s = new TreeSet<>();
    Matcher m = Pattern.compile("PersistentVolumeClaim `([a-z0-9.-]+)`").matcher(readme());
    while (m.find()) {
      s.add(m.group(1));
    }
    return s;
  }

  static String readme() {
    try {
      return Files.readString(Repo.k8s().resolve("README.md"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Map<String, String> asMap(JsonNode n) {
    Map<String, String> m = new TreeMap<>();
    n.fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
    return m;
  }

  static boolean matches(JsonNode selector, JsonNode labels) {
    if (selector == null || !selector.isObject() || selector.isEmpty()) {
      return false;
    }
    for (var it = selector.fields(); it.hasNext(); ) {
      var e = it.next();
      if (!e.getValue().asText().equals(labels.path(e.getKey()).asText(null))) {
        return false;
      }
    }
    return true;
  }

  static String name(JsonNode o) {
    return o.at("/metadata/name").asText();
  }

  private static void expect(List<String> problems, String actual, String wanted, String what) {
    if (!wanted.equals(actual)) {
      problems.add(what + " is " + actual + ", not " + wanted);
    }
  }
}
