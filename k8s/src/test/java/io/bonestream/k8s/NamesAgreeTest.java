package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.bonestream.cli.BonestreamCli;
import io.bonestream.schemas.SigningKeys;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Names that must agree across files agree, in both overlays; and each check catches a broken copy. */
class NamesAgreeTest {

  static List<String> overlays() {
    return Kustomize.OVERLAYS;
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void topicsAreTheJobsTopics(String overlay) {
    assertEquals(List.of(), Checks.topics(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void theJobAndServeReachTheTopicsCluster(String overlay) {
    assertEquals(List.of(), Checks.kafkaCluster(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void servePortsProbesServiceAndMonitorAgree(String overlay) {
    assertEquals(List.of(), Checks.servePorts(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void thePodMonitorFindsTheFlinkReporter(String overlay) {
    assertEquals(List.of(), Checks.flinkMetrics(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void everyConfigMapSecretAndFileExists(String overlay) {
    assertEquals(List.of(), Checks.volumesAndFiles(Rendered.of(overlay), Checks.documentedSecrets(),
        Checks.documentedClaims()));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void nativeCachesAreOnWritableVolumes(String overlay) {
    assertEquals(List.of(), Checks.writableCaches(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void manifestsAreSignedAndServeChecksTheSignatures(String overlay) {
    assertEquals(List.of(), Checks.signing(Rendered.of(overlay)));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void serveReadsClaimChecksFromTheTrainersS3Store(String overlay) {
    assertEquals(List.of(), Checks.s3(Rendered.of(overlay)));
  }

  @Test
  void theReadmeListsTheSecrets() {
    Map<String, Set<String>> secrets = Checks.documentedSecrets();
    assertEquals(Set.of("bonestream-trainer", "bonestream-serve", "bonestream-kafka-ca", "bonestream-s3",
        "bonestream-s3-serve", "bonestream-serve-admin", "bonestream-signing", "bonestream-signing-public",
        "bonestream-registry", "bonestream-vllm"), secrets.keySet());
    assertEquals(Set.of("access-key-id", "secret-access-key"), secrets.get("bonestream-s3"));
    assertEquals(Set.of("access-key-id", "secret-access-key"), secrets.get("bonestream-s3-serve"));
    assertEquals(Set.of("sasl.jaas.config"), secrets.get("bonestream-trainer"));
    assertEquals(Set.of("sasl.jaas.config"), secrets.get("bonestream-serve"));
    assertEquals(Set.of("signing.key"), secrets.get("bonestream-signing"));
    assertEquals(Set.of("signing.pub"), secrets.get("bonestream-signing-public"));
    assertEquals(Set.of("password"), secrets.get("bonestream-registry"));
    assertEquals(Set.of("api-key"), secrets.get("bonestream-vllm"));
    assertEquals(Set.of("bonestream-models", "bonestream-adapters"), Checks.documentedClaims());
  }

  /**
   * The README's commands create every listed Secret but the one Strimzi makes, with exactly the listed keys;
   * its {@code bonestream keygen} command, run here, writes the files its {@code kubectl create secret}
   * commands read: a key pair whose private half is the job's key and whose public half serve trusts.
   */
  @Test
  void theReadmesSecretCommandsMakeWhatTheManifestsMount(@TempDir Path tmp) throws Exception {
    Map<String, Set<String>> documented = Checks.documentedSecrets();
    Map<String, Map<String, String>> commands = Checks.secretCommands();
    Set<String> made = new TreeSet<>(documented.keySet());
    made.remove("bonestream-trainer"); // Strimzi's KafkaUsers (kafka-users.yaml) create these two
    made.remove("bonestream-serve");
    assertEquals(made, commands.keySet(), "k8s/README.md's kubectl create secret commands");
    for (String secret : made) {
      assertEquals(documented.get(secret), commands.get(secret).keySet(), secret + ": keys of the command");
    }

    String keygen = Checks.readme().lines().map(String::strip).filter(l -> l.startsWith("bonestream keygen "))
        .findFirst().orElseThrow(() -> new AssertionError("k8s/README.md has no bonestream keygen command"));
    List<String> args = new ArrayList<>(List.of(keygen.split(" +")));
    args.remove(0);
    int out = args.indexOf("--out");
    assertTrue(out >= 0 && out + 1 < args.size(), keygen);
    args.set(out + 1, tmp.resolve(args.get(out + 1)).toString());
    StringWriter log = new StringWriter();
    assertEquals(0, BonestreamCli.run(args.toArray(String[]::new), new PrintWriter(log), new PrintWriter(log)),
        keygen + ": " + log);

    String privateFile = commands.get("bonestream-signing").get("signing.key");
    String publicFile = commands.get("bonestream-signing-public").get("signing.pub");
    SigningKeys.Signer signer = SigningKeys.signer(Files.readString(tmp.resolve(privateFile)), privateFile);
    PublicKey trusted = SigningKeys.publicKey(Files.readString(tmp.resolve(publicFile)), publicFile);
    assertEquals(signer.keyId(), SigningKeys.keyId(trusted), "the public key serve trusts is not the job's");
  }

  @Test
  void theGrafanaDashboardConfigMapIsTheSidecars() throws Exception {
    for (String overlay : Kustomize.OVERLAYS) {
      ObjectNode cm = Rendered.of(overlay).find("ConfigMap", "bonestream-grafana-dashboard")
          .orElseThrow(() -> new AssertionError(overlay + ": no ConfigMap bonestream-grafana-dashboard"));
      assertEquals("1", cm.at("/metadata/labels/grafana_dashboard").asText(), overlay + ": sidecar label");
      String json = cm.at("/data/bonestream.json").asText(null);
      assertEquals(java.nio.file.Files.readString(Repo.k8s().resolve("base/grafana/bonestream.json")), json);
      assertTrue(Yaml.read(json).isObject(), "bonestream.json is not a JSON object");
    }
  }

  // ---- each check catches a broken copy ----

  @Test
  void aRenamedTopicIsCaught() {
    assertCaught(Checks::topics, r -> ((ObjectNode) Checks.topicNames(r).get("bonestream.dlq").get("spec"))
        .put("topicName", "bonestream.deadletters"), "bonestream.deadletters");
    assertCaught(Checks::topics, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      ((ObjectNode) job.get("topics")).remove("gated");
      r.setJobYaml(job);
    }, "topics.gated is not set");
    assertCaught(Checks::topics, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      ((ObjectNode) job.get("topics")).remove("control");
      r.setJobYaml(job);
    }, "topics.control is not set");
    assertCaught(Checks::topics, r -> setArg(r, "--topic", "bonestream.adapter"), "bonestream.adapter");
  }

  @Test
  void anotherKafkaClusterIsCaught() {
    assertCaught(Checks::kafkaCluster, r -> ((ObjectNode) r.all("KafkaTopic").get(0).at("/metadata/labels"))
        .put("strimzi.io/cluster", "other"), "strimzi.io/cluster");
    assertCaught(Checks::kafkaCluster, r -> setArg(r, "--bootstrap", "other-kafka-bootstrap:9093"),
        "other-kafka-bootstrap");
  }

  @Test
  void mismatchedServePortsAreCaught() {
    assertCaught(Checks::servePorts, r -> ((ObjectNode) r.one("Service").at("/spec/ports/0"))
        .put("targetPort", "htp"), "htp");
    assertCaught(Checks::servePorts, r -> setArg(r, "--port", "8080"), "8080");
    assertCaught(Checks::servePorts, r -> ((ObjectNode) r.one("ServiceMonitor").at("/spec/endpoints/0"))
        .put("port", "metrics"), "metrics");
    assertCaught(Checks::servePorts, r -> ((ObjectNode) r.serveDeployment()
        .at("/spec/template/spec/containers/0/readinessProbe/httpGet")).put("path", "/healthz"), "readinessProbe");
    assertCaught(Checks::servePorts, r -> ((ObjectNode) r.one("Service").at("/spec/selector"))
        .put("app.kubernetes.io/component", "trainer"), "selects");
  }

  @Test
  void aReporterOnAnotherPortIsCaught() {
    assertCaught(Checks::flinkMetrics, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put(Checks.PROMETHEUS_PORT_KEY, "9250"), "9250");
    assertCaught(Checks::flinkMetrics, r -> ((ObjectNode) r.one("PodMonitor").at("/spec/selector/matchLabels"))
        .put("app", "flink"), "selects");
  }

  @Test
  void missingConfigMapsSecretsAndFilesAreCaught() {
    Function<Rendered, List<String>> check = r -> Checks.volumesAndFiles(r, Checks.documentedSecrets(),
        Checks.documentedClaims());
    assertCaught(check, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec/volumes/4/configMap"))
        .put("name", "bonestream-kafka-clients"), "bonestream-kafka-clients");
    assertCaught(check, r -> setArg(r, "--kafka-config", "/etc/bonestream/kafka-client/kafka.properties"),
        "has no key kafka.properties");
    assertCaught(check, r -> setArg(r, "--admin-token-file", "/etc/bonestream/admin/admin-token"),
        "no key admin-token");
    assertCaught(check, r -> ((ObjectNode) r.flink().at("/spec/podTemplate/spec/containers/0/env/2/valueFrom/secretKeyRef"))
        .put("key", "access-key"), "access-key");
    assertCaught(check, r -> setArg(r, "--model", "/models/base"), "/models/base");
    assertCaught(check, r -> ((com.fasterxml.jackson.databind.node.ArrayNode) r.flink().at("/spec/job/args"))
        .set(1, TextNode.valueOf("/opt/bonestream/job.yaml")), "/opt/bonestream/job.yaml");
    Function<Rendered, List<String>> noDocs = r -> Checks.volumesAndFiles(r, Map.of(), Checks.documentedClaims());
    assertTrue(noDocs.apply(Rendered.of("cpu")).toString().contains("bonestream-trainer"),
        "an undocumented Secret passed");
  }

  @Test
  void unsignedOrBadlyKeyedManifestsAreCaught() {
    // serve without --public-key, or with --allow-unsigned
    assertCaught(Checks::signing, r -> removeArg(r, "--public-key"), "serve has no --public-key");
    assertCaught(Checks::signing, r -> ((ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args"))
        .add("--allow-unsigned"), "--allow-unsigned");
    // the job without a signing key, or with one on no Secret
    assertCaught(Checks::signing, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      job.remove("signing");
      r.setJobYaml(job);
    }, "no signing.private-key-file");
    assertCaught(Checks::signing, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      ((ObjectNode) job.get("signing")).put("private-key-file", "/opt/bonestream/config/signing.key");
      r.setJobYaml(job);
    }, "which is no Secret");
    assertCaught(Checks::signing, r -> ((ObjectNode) mount(r.flink().at("/spec/podTemplate/spec/containers/0"),
        "signing-key")).put("readOnly", false), "not mounted readOnly");
    // serve trusting another key than the job's, or holding the job's private key
    assertCaught(Checks::signing, r -> setArg(r, "--public-key", "/etc/bonestream/signing-public/other.pub"),
        "none of them signing.pub");
    assertCaught(Checks::signing, r -> ((ObjectNode) volume(r.serveDeployment().at("/spec/template/spec"),
        "signing-public").get("secret")).put("secretName", "bonestream-signing"), "mounts the job's private key Secret");
    // key material written into the manifests
    assertCaught(Checks::signing, r -> ((ObjectNode) r.all("ConfigMap").get(0).get("data")).put("signing.pub", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"),
        "holds key material");
  }

  @Test
  void aSigningKeyWhereNoSecretHasItIsCaught() {
    Function<Rendered, List<String>> check = r -> Checks.volumesAndFiles(r, Checks.documentedSecrets(),
        Checks.documentedClaims());
    assertCaught(check, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      ((ObjectNode) job.get("signing")).put("private-key-file", "/etc/bonestream/signing/private.key");
      r.setJobYaml(job);
    }, "Secret bonestream-signing has no key private.key");
    assertCaught(check, r -> ((ObjectNode) mount(r.flink().at("/spec/podTemplate/spec/containers/0"), "signing-key"))
        .put("mountPath", "/etc/bonestream/signing-key"), "signing.private-key-file /etc/bonestream/signing/signing.key is on no mounted volume");
    assertCaught(check, r -> setArg(r, "--public-key", "/etc/bonestream/signing-public/signing.key"),
        "Secret bonestream-signing-public has no key signing.key");
  }

  @Test
  void anS3SettingOfServeThatDisagreesWithTheTrainersIsCaught() {
    assertCaught(Checks::s3, r -> setArg(r, "--s3-endpoint", "http://minio.other.svc:9000"), "minio.other.svc");
    assertCaught(Checks::s3, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("s3.endpoint", "https://s3.example.com"), "https://s3.example.com");
    assertCaught(Checks::s3, r -> removeArg(r, "--s3-endpoint"), "serve --s3-endpoint (none: AWS)");
    assertCaught(Checks::s3, r -> ((ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args"))
        .add("--s3-virtual-host"), "both --s3-path-style and --s3-virtual-host");
    assertCaught(Checks::s3, r -> {
      ArrayNode args = (ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args");
      for (int i = 0; i < args.size(); i++) {
        if (args.get(i).asText().equals("--s3-path-style")) {
          args.set(i, TextNode.valueOf("--s3-virtual-host"));
        }
      }
    }, "serve makes virtual-host S3 requests, the FlinkDeployment's s3.path.style.access is true");
    assertCaught(Checks::s3, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("s3.path.style.access", "false"), "s3.path.style.access is false");
    assertCaught(Checks::s3, r -> setArg(r, "--s3-region", "eu-west-1"), "eu-west-1");
    assertCaught(Checks::s3, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("s3.endpoint.region", "eu-central-1"), "the trainer's S3 region eu-central-1");
    assertCaught(Checks::s3, r -> {
      ObjectNode job = (ObjectNode) r.jobYaml();
      job.put("blob-store", "gs://bonestream/blobs");
      r.setJobYaml(job);
    }, "gs://bonestream/blobs is no S3 URI");
    // the credentials: the trainer's Secret, a literal value, none
    assertCaught(Checks::s3, r -> ((ObjectNode) r.serveDeployment()
        .at("/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef")).put("name", "bonestream-s3"),
        "reads the trainer's Secret bonestream-s3");
    assertCaught(Checks::s3, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec/containers/0/env/1"))
        .put("value", "minio123").remove("valueFrom"), "literal value");
    assertCaught(Checks::s3, r -> ((ObjectNode) r.serveDeployment().at("/spec/template/spec/containers/0"))
        .remove("env"), "no env AWS_ACCESS_KEY_ID");
  }

  @Test
  void aServeS3PolicyBeyondReadingTheBlobStoreIsCaught() throws Exception {
    JsonNode policy = Checks.readServePolicy();
    assertEquals(List.of(), Checks.servePolicy(policy, "s3://bonestream/blobs"));
    ObjectNode wider = policy.deepCopy();
    ((ArrayNode) wider.at("/Statement/0/Action")).add("s3:DeleteObject");
    assertTrue(Checks.servePolicy(wider, "s3://bonestream/blobs").toString().contains("s3:DeleteObject"));
    ObjectNode bucket = policy.deepCopy();
    ((ArrayNode) bucket.at("/Statement/0/Resource")).set(0, TextNode.valueOf("arn:aws:s3:::bonestream/*"));
    assertTrue(Checks.servePolicy(bucket, "s3://bonestream/blobs").toString().contains("arn:aws:s3:::bonestream/*"));
    assertTrue(Checks.servePolicy(policy, "s3://bonestream/adapters").toString().contains("bonestream/adapters/*"),
        "a blob store moved without the policy passed");
  }

  @Test
  void aCacheOffTheWritableVolumesIsCaught() {
    assertCaught(Checks::writableCaches, r -> ((ObjectNode) r.flink().at("/spec/flinkConfiguration"))
        .put("env.java.opts.all", "-Dorg.bytedeco.javacpp.cachedir=/opt/flink/cache"), "/opt/flink/cache");
  }

  private static void removeArg(Rendered r, String flag) {
    ArrayNode args = (ArrayNode) r.serveDeployment().at("/spec/template/spec/containers/0/args");
    for (int i = args.size() - 2; i >= 0; i--) {
      if (args.get(i).asText().equals(flag)) {
        args.remove(i + 1);
        args.remove(i);
      }
    }
  }

  private static JsonNode volume(JsonNode podSpec, String name) {
    for (JsonNode v : podSpec.path("volumes")) {
      if (v.path("name").asText().equals(name)) {
        return v;
      }
    }
    throw new AssertionError("no volume " + name);
  }

  private static JsonNode mount(JsonNode container, String volume) {
    for (JsonNode m : container.path("volumeMounts")) {
      if (m.path("name").asText().equals(volume)) {
        return m;
      }
    }
    throw new AssertionError("no volumeMount " + volume);
  }

  private static void setArg(Rendered r, String flag, String value) {
    JsonNode args = r.serveDeployment().at("/spec/template/spec/containers/0/args");
    for (int i = 0; i + 1 < args.size(); i++) {
      if (args.get(i).asText().equals(flag)) {
        ((com.fasterxml.jackson.databind.node.ArrayNode) args).set(i + 1, TextNode.valueOf(value));
        return;
      }
    }
    throw new AssertionError("serve has no " + flag);
  }

  private static void assertCaught(Function<Rendered, List<String>> check, Consumer<Rendered> breakIt,
      String expected) {
    Rendered r = Rendered.of("cpu").copy();
    assertEquals(List.of(), check.apply(r), "the unbroken copy has problems");
    breakIt.accept(r);
    List<String> problems = check.apply(r);
    assertTrue(problems.toString().contains(expected), "not caught (wanted '" + expected + "'): " + problems);
  }
}
