package io.bonestream.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.util.Durations;
import io.bonestream.job.FlinkApplication;
import io.bonestream.job.JobConfig;
import io.bonestream.operators.publish.SnapshotPolicy;
import io.bonestream.schemas.SigningKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.types.Password;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The job's settings in the manifests: job.yaml passes the job's own strict reader, the FlinkDeployment
 * agrees with the cluster config the cluster tests run on and with job.yaml, Kafka resolves the Secret
 * references, and the adapters topic takes a manifest with the inline limit.
 */
class JobSettingsTest {
  /** What a manifest needs beyond its inline adapter: stats, lineage per partition, names, hashes. */
  static final long MANIFEST_HEADROOM_BYTES = 64 * 1024;

  @TempDir
  Path tmp;

  static List<String> overlays() {
    return Kustomize.OVERLAYS;
  }

  /**
   * The mounted job.yaml read by {@link JobConfig}, as FlinkApplication reads it, with two values swapped
   * for what exists here: the model (a folder on the cluster's volume; here the repository's stories260K)
   * and, in the gpu overlay, the backend (JobConfig opens the CUDA device; the value is checked first).
   */
  @ParameterizedTest
  @MethodSource("overlays")
  void jobYamlPassesTheJobsOwnReader(String overlay) throws Exception {
    Rendered r = Rendered.of(overlay);
    ObjectNode job = (ObjectNode) r.jobYaml();
    assertEquals(overlay.equals("gpu") ? "cuda" : "cpu", job.path("backend").asText("cpu"), "backend");
    JobConfig c = JobConfig.read(runnable(job));
    assertEquals(r.flinkConfiguration().get(CheckpointingOptions.CHECKPOINTS_DIRECTORY.key()), c.checkpointDir(),
        "job.yaml checkpoints.dir and the FlinkDeployment's execution.checkpointing.dir");
    assertTrue(c.checkpointDir().startsWith("s3://"), c.checkpointDir());
    assertTrue(job.path("blob-store").asText().startsWith("s3://"), "blob-store " + job.path("blob-store"));
    assertEquals(job.at("/kafka/bootstrap-servers").asText(), c.job().bootstrapServers());
  }

  @Test
  void anUnknownOrInvalidJobKeyIsRefused() throws Exception {
    ObjectNode job = (ObjectNode) Rendered.of("cpu").jobYaml();
    ((ObjectNode) job.get("snapshots")).put("inline-limt", "512KiB");
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(runnable(job)));
    assertTrue(e.getMessage().contains("inline-limt"), e.getMessage());

    ObjectNode bad = (ObjectNode) Rendered.of("cpu").jobYaml();
    ((ObjectNode) bad.get("checkpoints")).put("interval", "often");
    assertThrows(BonestreamException.class, () -> JobConfig.read(runnable(bad)));
  }

  /** Only the backend and what the GPU is sized for differ: sequence length, micro-batch, recomputation. */
  @Test
  void theGpuJobYamlDiffersOnlyInTheBackendAndItsSizing() {
    ObjectNode cpu = (ObjectNode) Rendered.of("cpu").jobYaml();
    ObjectNode gpu = (ObjectNode) Rendered.of("gpu").jobYaml();
    for (ObjectNode j : List.of(cpu, gpu)) {
      j.remove("backend");
      j.remove("precision");
      j.remove("max-seq-len");
      j.remove("recompute");
      ((ObjectNode) j.get("adapter-defaults")).remove("micro-batch-size");
    }
    assertEquals(cpu, gpu);
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void theFlinkDeploymentRunsTheApplicationJarWithSavepointsAndHa(String overlay) {
    Rendered r = Rendered.of(overlay);
    JsonNode spec = r.flink().path("spec");
    String flink = Repo.flinkVersion();
    assertEquals("v" + flink.replaceFirst("^(\\d+)\\.(\\d+).*$", "$1_$2"), spec.path("flinkVersion").asText(),
        "flinkVersion must be the project's Flink " + flink);
    assertEquals(FlinkApplication.class.getName(), spec.at("/job/entryClass").asText());
    assertEquals("local:///opt/flink/usrlib/bonestream-job.jar", spec.at("/job/jarURI").asText());
    assertEquals("savepoint", spec.at("/job/upgradeMode").asText());
    Map<String, String> conf = r.flinkConfiguration();
    assertEquals("kubernetes", conf.get("high-availability.type"));
    for (String k : List.of("high-availability.storageDir", CheckpointingOptions.CHECKPOINTS_DIRECTORY.key(),
        CheckpointingOptions.SAVEPOINT_DIRECTORY.key())) {
      assertTrue(conf.getOrDefault(k, "").startsWith("s3://"), k + " = " + conf.get(k));
    }
    String image = spec.path("image").asText();
    assertEquals((overlay.equals("gpu") ? "bonestream-job-gpu:" : "bonestream-job:") + Repo.version(), image);
    assertEquals("bonestream-serve:" + Repo.version(), r.serve().container().path("image").asText());
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void gpusAreRequestedOnlyByTheGpuOverlay(String overlay) {
    Rendered r = Rendered.of(overlay);
    JsonNode gpus = r.trainer("taskManager").container().at("/resources/limits/nvidia.com~1gpu");
    if (overlay.equals("gpu")) {
      assertEquals("1", gpus.asText(), "the TaskManagers request no GPU");
    } else {
      assertTrue(gpus.isMissingNode(), "the TaskManagers request a GPU in the cpu overlay");
    }
    // the JobManager builds the job without opening the backend (FlinkApplication): no GPU wasted on it
    assertTrue(r.trainer("jobManager").container().at("/resources/limits/nvidia.com~1gpu").isMissingNode(),
        "the JobManager requests a GPU");
  }

  /**
   * The keys the cluster tests' config.yaml (job/flink-lib) sets for the job itself, read by Flink as
   * Flink reads them, are the same in the FlinkDeployment: parent-first patterns, the JVM options,
   * RocksDB, unaligned checkpoints, the Prometheus reporter (exact adapter ids in labels). Restarts
   * differ on purpose: the cluster tests restart after 1 s every time (they kill often and wait for
   * the recovery); production backs off exponentially (checked below).
   */
  @ParameterizedTest
  @MethodSource("overlays")
  void theFlinkConfigurationIsTheClusterTestsOne(String overlay) {
    Configuration cluster = GlobalConfiguration.loadConfiguration(Repo.path("job/flink-lib/conf").toString());
    Configuration deployment = Configuration.fromMap(Rendered.of(overlay).flinkConfiguration());
    List<ConfigOption<?>> same = List.of(CoreOptions.ALWAYS_PARENT_FIRST_LOADER_PATTERNS_ADDITIONAL,
        CoreOptions.FLINK_DEFAULT_JVM_OPTIONS, StateBackendOptions.STATE_BACKEND,
        CheckpointingOptions.INCREMENTAL_CHECKPOINTS, CheckpointingOptions.ENABLE_UNALIGNED,
        TaskManagerOptions.TASK_MANAGER_LOAD_BALANCE_MODE);
    List<ConfigOption<?>> compared = new ArrayList<>(same);
    // and every setting of the Prometheus reporter but its port (a range there, one port in a pod)
    for (String key : cluster.keySet()) {
      if (key.startsWith("metrics.reporter.") && !key.endsWith(".port")) {
        compared.add(ConfigOptions.key(key).stringType().noDefaultValue());
      }
    }
    assertTrue(compared.size() > same.size() + 1, "the cluster config has no Prometheus reporter settings");
    List<String> differ = new ArrayList<>();
    for (ConfigOption<?> o : compared) {
      if (!cluster.contains(o) || !cluster.get(o).equals(deployment.get(o))) {
        differ.add(o.key() + ": " + cluster.get(o) + " vs " + deployment.get(o));
      }
    }
    assertEquals(List.of(), differ);
    assertEquals(List.of("org.nd4j.", "org.bytedeco.", "ai.djl.", "com.sun.jna."),
        deployment.get(CoreOptions.ALWAYS_PARENT_FIRST_LOADER_PATTERNS_ADDITIONAL));
    assertTrue(deployment.get(CoreOptions.FLINK_JVM_OPTIONS).contains(cluster.get(CoreOptions.FLINK_JVM_OPTIONS)),
        "env.java.opts.all lacks the cluster's " + cluster.get(CoreOptions.FLINK_JVM_OPTIONS));
    assertEquals("rocksdb", deployment.get(StateBackendOptions.STATE_BACKEND));
  }

  /** A failing job backs off (1 s doubling to at most 5 min), not a restart every second forever. */
  @ParameterizedTest
  @MethodSource("overlays")
  void restartsBackOffExponentially(String overlay) {
    Configuration deployment = Configuration.fromMap(Rendered.of(overlay).flinkConfiguration());
    assertEquals("exponential-delay", deployment.get(RestartStrategyOptions.RESTART_STRATEGY));
    java.time.Duration initial = deployment.get(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF);
    java.time.Duration max = deployment.get(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF);
    assertTrue(initial.toMillis() >= 1000 && max.compareTo(initial) > 0 && max.toMinutes() <= 10, initial + " .. " + max);
    assertTrue(deployment.get(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER) > 1.0);
  }

  /** job.yaml's Kafka properties and serve's are one set, and Kafka reads the mounted Secret through them. */
  @ParameterizedTest
  @MethodSource("overlays")
  void kafkaReadsTheSecretsTheManifestsMount(String overlay) throws Exception {
    Rendered r = Rendered.of(overlay);
    Map<String, String> job = Checks.asMap(r.jobYaml().at("/kafka/properties"));
    assertEquals(job, r.serveKafkaProperties(), "job.yaml kafka.properties vs serve's client.properties");
    for (Map.Entry<String, String> e : job.entrySet()) {
      assertFalse(e.getKey().contains("password") || e.getValue().contains("password="),
          "a secret is written into the manifests: " + e.getKey());
    }

    // the Secrets as mounted, in a folder here
    String jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"p\";";
    Path secrets = Files.createDirectories(tmp.resolve("etc/bonestream"));
    Files.createDirectories(secrets.resolve("kafka-user"));
    Files.writeString(secrets.resolve("kafka-user/sasl.jaas.config"), jaas);
    Properties props = new Properties();
    job.forEach((k, v) -> props.put(k, v.replace("/etc/bonestream", secrets.toString())));
    props.put("bootstrap.servers", r.jobYaml().at("/kafka/bootstrap-servers").asText());
    props.put("key.serializer", ByteArraySerializer.class.getName());
    props.put("value.serializer", ByteArraySerializer.class.getName());
    props.put("key.deserializer", ByteArrayDeserializer.class.getName());
    props.put("value.deserializer", ByteArrayDeserializer.class.getName());
    ProducerConfig producer = new ProducerConfig(props);
    ConsumerConfig consumer = new ConsumerConfig(props);
    assertEquals(jaas, ((Password) producer.values().get("sasl.jaas.config")).value());
    assertEquals(jaas, ((Password) consumer.values().get("sasl.jaas.config")).value());
    assertEquals("SASL_SSL", producer.getString("security.protocol"));
  }

  @ParameterizedTest
  @MethodSource("overlays")
  void theAdaptersTopicTakesAManifestWithTheInlineLimit(String overlay) {
    assertEquals(List.of(), adaptersTopicProblems(Rendered.of(overlay)));
  }

  @Test
  void aTooSmallAdaptersTopicIsCaught() {
    Rendered r = Rendered.of("cpu").copy();
    String adapters = r.jobYaml().at("/topics/adapters").asText();
    ((ObjectNode) Checks.topicNames(r).get(adapters).at("/spec/config")).put("max.message.bytes", 524288);
    assertTrue(adaptersTopicProblems(r).toString().contains("max.message.bytes"), adaptersTopicProblems(r).toString());
    Rendered big = Rendered.of("cpu").copy();
    ((ObjectNode) Checks.topicNames(big).get(adapters).at("/spec/config")).put("max.message.bytes", 4194304);
    assertTrue(adaptersTopicProblems(big).toString().contains("max.request.size"), adaptersTopicProblems(big).toString());
  }

  static List<String> adaptersTopicProblems(Rendered r) {
    List<String> problems = new ArrayList<>();
    JsonNode job = r.jobYaml();
    JsonNode topic = Checks.topicNames(r).get(job.at("/topics/adapters").asText());
    if (topic == null) {
      return List.of("no KafkaTopic for the adapters topic");
    }
    JsonNode config = topic.at("/spec/config");
    if (!"compact".equals(config.path("cleanup.policy").asText())) {
      problems.add("the adapters topic is not compacted");
    }
    long inline = job.at("/snapshots/inline-limit").isMissingNode() ? SnapshotPolicy.DEFAULT_INLINE_LIMIT
        : Durations.parseBytes(job.at("/snapshots/inline-limit").asText(), "inline-limit");
    long max = config.path("max.message.bytes").asLong(-1);
    if (max < inline + MANIFEST_HEADROOM_BYTES) {
      problems.add("the adapters topic's max.message.bytes " + max + " is below the inline limit " + inline + " + "
          + MANIFEST_HEADROOM_BYTES + " for the manifest");
    }
    Map<String, String> kafka = Checks.asMap(job.at("/kafka/properties"));
    long request = Long.parseLong(kafka.getOrDefault(ProducerConfig.MAX_REQUEST_SIZE_CONFIG,
        String.valueOf(new ProducerConfig(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, "x:1",
            ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
            ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class))
            .getInt(ProducerConfig.MAX_REQUEST_SIZE_CONFIG))));
    if (max > request) {
      problems.add("the adapters topic's max.message.bytes " + max + " is above the producer's max.request.size "
          + request + ": the job could not send what the topic accepts");
    }
    return problems;
  }

  /**
   * The job needs its signing key where job.yaml says (the Secret's mount): without it, it does not start,
   * and says which file is missing.
   */
  @ParameterizedTest
  @MethodSource("overlays")
  void withoutTheMountedSigningKeyTheJobDoesNotStart(String overlay) throws Exception {
    ObjectNode job = (ObjectNode) Rendered.of(overlay).jobYaml();
    String keyFile = job.at("/signing/private-key-file").asText();
    assertTrue(keyFile.startsWith("/etc/bonestream/"), "signing.private-key-file " + keyFile);
    ObjectNode j = local(job);
    Path f = tmp.resolve("job-without-key.yaml");
    Files.writeString(f, Yaml.MAPPER.writeValueAsString(j));
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(f));
    assertTrue(e.getMessage().contains("signing key file " + keyFile + " not found"), e.getMessage());

    // a public key where the private key belongs is refused too
    SigningKeys.write(SigningKeys.generate(), tmp.resolve("keys"), "signing");
    ((ObjectNode) j.get("signing")).put("private-key-file", tmp.resolve("keys/signing.pub").toString());
    Files.writeString(f, Yaml.MAPPER.writeValueAsString(j));
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(f));
    assertTrue(e.getMessage().contains("PRIVATE KEY"), e.getMessage());
  }

  /**
   * job.yaml as a file here: the model is the repository's stories260K, the backend cpu, and the signing key
   * a key pair that {@code bonestream keygen}'s code writes (the cluster's comes from a Secret).
   */
  private Path runnable(ObjectNode job) throws Exception {
    ObjectNode j = local(job);
    if (j.at("/signing/private-key-file").isTextual()) {
      Path keys = tmp.resolve("keys");
      if (!Files.exists(keys.resolve("signing.key"))) {
        SigningKeys.write(SigningKeys.generate(), keys, "signing");
      }
      ((ObjectNode) j.get("signing")).put("private-key-file", keys.resolve("signing.key").toString());
    }
    Path f = tmp.resolve("job.yaml");
    Files.writeString(f, Yaml.MAPPER.writeValueAsString(j));
    return f;
  }

  /** The model and backend swapped for what exists here. */
  private static ObjectNode local(ObjectNode job) {
    ObjectNode j = job.deepCopy();
    j.put("model", Repo.path("models/stories260K").toString());
    j.put("backend", "cpu");
    j.remove("precision");
    return j;
  }

  static Map<String, String> sorted(Map<String, String> m) {
    return new TreeMap<>(m);
  }
}
