package io.bonestream.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;

/** The objects of one rendered overlay, and the ways into them the checks need. */
final class Rendered {
  static final String TRAINER_CONTAINER = "flink-main-container";

  final String overlay;
  final List<ObjectNode> objects;

  Rendered(String overlay, List<ObjectNode> objects) {
    this.overlay = overlay;
    this.objects = objects;
  }

  static Rendered of(String overlay) {
    return new Rendered(overlay, Kustomize.overlay(overlay));
  }

  /** A deep copy, for a test that breaks something on purpose. */
  Rendered copy() {
    List<ObjectNode> c = new ArrayList<>();
    objects.forEach(o -> c.add(o.deepCopy()));
    return new Rendered(overlay, c);
  }

  List<ObjectNode> all(String kind) {
    return objects.stream().filter(o -> o.path("kind").asText().equals(kind)).toList();
  }

  ObjectNode one(String kind) {
    List<ObjectNode> l = all(kind);
    if (l.size() != 1) {
      throw new AssertionError(overlay + ": expected one " + kind + ", found " + l.size());
    }
    return l.get(0);
  }

  Optional<ObjectNode> find(String kind, String name) {
    return all(kind).stream().filter(o -> o.path("metadata").path("name").asText().equals(name)).findFirst();
  }

  ObjectNode flink() {
    return one("FlinkDeployment");
  }

  ObjectNode serveDeployment() {
    return one("Deployment");
  }

  /** The FlinkDeployment's pod template for a role: the common template with the role's on top. */
  List<JsonNode> flinkPodSpecs() {
    JsonNode spec = flink().path("spec");
    List<JsonNode> l = new ArrayList<>();
    l.add(spec.path("podTemplate").path("spec"));
    l.add(spec.path("jobManager").path("podTemplate").path("spec"));
    l.add(spec.path("taskManager").path("podTemplate").path("spec"));
    return l;
  }

  /** The trainer's main container as the operator merges it (common template, then the role's). */
  Pod trainer(String role) {
    JsonNode spec = flink().path("spec");
    Pod p = new Pod("FlinkDeployment " + flink().at("/metadata/name").asText() + " (" + role + ")");
    p.add(spec.path("podTemplate").path("spec"), TRAINER_CONTAINER);
    p.add(spec.path(role).path("podTemplate").path("spec"), TRAINER_CONTAINER);
    return p;
  }

  Pod serve() {
    ObjectNode d = serveDeployment();
    JsonNode podSpec = d.at("/spec/template/spec");
    Pod p = new Pod("Deployment " + d.at("/metadata/name").asText());
    p.add(podSpec, podSpec.path("containers").path(0).path("name").asText());
    return p;
  }

  /** The data of the ConfigMap a pod mounts under {@code volume}. */
  Map<String, String> configMapData(String name) {
    ObjectNode cm = find("ConfigMap", name).orElseThrow(() -> new AssertionError("no ConfigMap " + name));
    Map<String, String> data = new TreeMap<>();
    cm.path("data").fields().forEachRemaining(e -> data.put(e.getKey(), e.getValue().asText()));
    return data;
  }

  /** The job.yaml the trainer mounts, as text. */
  String jobYamlText() {
    String path = jobConfigPath();
    Pod jm = trainer("jobManager");
    Pod.Resolved r = jm.resolve(path).orElseThrow(() -> new AssertionError(path + " is on no volume"));
    return configMapData(r.volume().path("configMap").path("name").asText()).get(r.key());
  }

  JsonNode jobYaml() {
    return Yaml.read(jobYamlText());
  }

  /** The job's --config argument. */
  String jobConfigPath() {
    List<String> args = new ArrayList<>();
    flink().at("/spec/job/args").forEach(a -> args.add(a.asText()));
    int i = args.indexOf("--config");
    if (i < 0 || i + 1 >= args.size()) {
      throw new AssertionError("the FlinkDeployment's job.args have no --config: " + args);
    }
    return args.get(i + 1);
  }

  /** serve's value of a flag, e.g. --port. */
  Optional<String> serveArg(String flag) {
    List<String> args = serveArgs();
    int i = args.indexOf(flag);
    return i >= 0 && i + 1 < args.size() ? Optional.of(args.get(i + 1)) : Optional.empty();
  }

  /** Every value of a repeatable flag of serve, e.g. --public-key, in order. */
  List<String> serveArgs(String flag) {
    List<String> args = serveArgs();
    List<String> values = new ArrayList<>();
    for (int i = 0; i + 1 < args.size(); i++) {
      if (args.get(i).equals(flag)) {
        values.add(args.get(i + 1));
      }
    }
    return values;
  }

  /** serve's container args. */
  List<String> serveArgs() {
    List<String> args = new ArrayList<>();
    serve().container().path("args").forEach(a -> args.add(a.asText()));
    return args;
  }

  /** Replaces the job.yaml the trainer mounts (for a test that breaks it on purpose). */
  void setJobYaml(JsonNode job) {
    String path = jobConfigPath();
    Pod.Resolved r = trainer("jobManager").resolve(path).orElseThrow(() -> new AssertionError(path + " is on no volume"));
    String cm = r.volume().path("configMap").path("name").asText();
    ObjectNode data = (ObjectNode) find("ConfigMap", cm).orElseThrow().path("data");
    try {
      data.put(r.key(), Yaml.MAPPER.writeValueAsString(job));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The Kafka client properties serve reads (--kafka-config), from its ConfigMap. */
  Map<String, String> serveKafkaProperties() {
    String file = serveArg("--kafka-config").orElseThrow(() -> new AssertionError("serve has no --kafka-config"));
    Pod.Resolved r = serve().resolve(file).orElseThrow(() -> new AssertionError(file + " is on no volume"));
    String text = configMapData(r.volume().path("configMap").path("name").asText()).get(r.key());
    if (text == null) {
      throw new AssertionError(file + ": the ConfigMap has no key " + r.key());
    }
    Properties p = new Properties();
    try {
      p.load(new StringReader(text));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Map<String, String> m = new TreeMap<>();
    p.forEach((k, v) -> m.put((String) k, (String) v));
    return m;
  }

  Map<String, String> flinkConfiguration() {
    Map<String, String> m = new LinkedHashMap<>();
    flink().at("/spec/flinkConfiguration").fields().forEachRemaining(e -> m.put(e.getKey(), e.getValue().asText()));
    return m;
  }

  /** One pod's main container, its volumes and its labels. */
  static final class Pod {
    final String what;
    final ObjectNode container = Yaml.MAPPER.createObjectNode();
    final Map<String, JsonNode> volumes = new LinkedHashMap<>();
    final List<JsonNode> mounts = new ArrayList<>();
    final List<JsonNode> env = new ArrayList<>();
    final List<JsonNode> ports = new ArrayList<>();

    Pod(String what) {
      this.what = what;
    }

    void add(JsonNode podSpec, String containerName) {
      podSpec.path("volumes").forEach(v -> volumes.put(v.path("name").asText(), v));
      for (JsonNode c : podSpec.path("containers")) {
        if (c.path("name").asText().equals(containerName)) {
          container.setAll((ObjectNode) c);
          c.path("volumeMounts").forEach(mounts::add);
          c.path("env").forEach(env::add);
          c.path("ports").forEach(ports::add);
        }
      }
    }

    JsonNode container() {
      return container;
    }

    Optional<JsonNode> port(JsonNode nameOrNumber) {
      return ports.stream().filter(p -> nameOrNumber.isInt()
          ? p.path("containerPort").asInt() == nameOrNumber.asInt()
          : p.path("name").asText().equals(nameOrNumber.asText())).findFirst();
    }

    Optional<String> env(String name) {
      return env.stream().filter(e -> e.path("name").asText().equals(name)).map(e -> e.path("value").asText())
          .findFirst();
    }

    /** The volume a file path lies on, and the path below the mount (a ConfigMap's or Secret's key). */
    Optional<Resolved> resolve(String path) {
      JsonNode best = null;
      for (JsonNode m : mounts) {
        String mp = m.path("mountPath").asText();
        if ((path.equals(mp) || path.startsWith(mp.endsWith("/") ? mp : mp + "/"))
            && (best == null || mp.length() > best.path("mountPath").asText().length())) {
          best = m;
        }
      }
      if (best == null) {
        return Optional.empty();
      }
      String mp = best.path("mountPath").asText();
      String key = path.length() > mp.length() ? path.substring(mp.length()).replaceFirst("^/", "") : "";
      JsonNode v = volumes.get(best.path("name").asText());
      if (v == null) {
        throw new AssertionError(what + ": volumeMount " + best.path("name").asText() + " names no volume");
      }
      return Optional.of(new Resolved(best, v, key));
    }

    record Resolved(JsonNode mount, JsonNode volume, String key) {}
  }
}
