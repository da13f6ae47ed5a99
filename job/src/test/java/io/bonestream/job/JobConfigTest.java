package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigTest {
  @TempDir Path tmp;

  private Path write(String yaml) throws Exception {
    Path f = tmp.resolve("job.yaml");
    Files.writeString(f, yaml);
    return f;
  }

  private String example() throws Exception {
    return Files.readString(TestFiles.models().getParent().resolve("job/job.example.yaml"))
        .replace("model: models/stories260K", "model: " + TestFiles.stories260K());
  }

  @Test
  void theDocumentedExampleIsValid() throws Exception {
    JobConfig c = JobConfig.read(write(example()));
    assertEquals("localhost:9092", c.job().bootstrapServers());
    assertEquals("bonestream.adapters", c.job().adaptersTopic());
    assertEquals(30_000, c.checkpointIntervalMs());
    assertEquals(AdapterMethod.BAT, c.job().profiles().defaults().adapter().method());
    assertEquals(1e-4, c.job().profiles().defaults().train().lr());
    assertEquals(false, c.job().backend().recompute());
  }

  /** The example's commented input list, made live (and topics.instructions dropped). */
  private String exampleWithInputs() throws Exception {
    StringBuilder out = new StringBuilder();
    boolean inInputs = false;
    for (String line : example().split("\n", -1)) {
      if (line.startsWith("  instructions:")) {
        continue;
      }
      if (line.equals("# input:")) {
        inInputs = true;
      } else if (inInputs && !line.startsWith("#   ")) {
        inInputs = false;
      }
      out.append(inInputs ? line.substring(2) : line).append('\n');
    }
    return out.toString();
  }

  @Test
  void theDocumentedInputListIsValid() throws Exception {
    JobConfig c = JobConfig.read(write(exampleWithInputs()));
    var inputs = c.job().inputs();
    assertEquals(3, inputs.size());
    assertEquals(java.util.List.of("bonestream.instructions"), inputs.get(0).topics());
    assertEquals(io.bonestream.operators.decode.InputFormat.JSON, inputs.get(1).format());
    assertEquals("ticket.question", inputs.get(1).json().fields().name("prompt"));
    assertEquals(new io.bonestream.operators.decode.ValueSource.Field("tenant"), inputs.get(1).adapterId());
    assertEquals(io.bonestream.operators.decode.InputFormat.AVRO_REGISTRY, inputs.get(2).format());
    assertEquals("bonestream.instructions", c.job().instructionsTopic());

    BonestreamException both = assertThrows(BonestreamException.class, () -> JobConfig.read(write(
        exampleWithInputs().replace("topics:\n", "topics:\n  instructions: x\n"))));
    assertTrue(both.getMessage().contains("not both"), both.getMessage());
    BonestreamException key = assertThrows(BonestreamException.class, () -> JobConfig.read(write(
        exampleWithInputs().replace("shape: auto", "shap: auto"))));
    assertTrue(key.getMessage().contains("shap"), key.getMessage());
    BonestreamException source = assertThrows(BonestreamException.class, () -> JobConfig.read(write(
        exampleWithInputs().replace("adapter-id: field:tenant", "adapter-id: column:tenant"))));
    assertTrue(source.getMessage().contains("column:tenant"), source.getMessage());
    BonestreamException insecure = assertThrows(BonestreamException.class, () -> JobConfig.read(write(
        exampleWithInputs().replace("https://registry.internal:8081", "http://registry.internal:8081"))));
    assertTrue(insecure.getMessage().contains("registry"), insecure.getMessage());
  }

  @Test
  @org.junit.jupiter.api.Timeout(60)
  void theControlTopicIsATopicSetting() throws Exception {
    assertEquals("bonestream.control", JobConfig.read(write(example())).job().controlTopic(),
        "the documented example names the default");
    assertEquals(io.bonestream.operators.StreamingJob.CONTROL_TOPIC, JobConfig.read(write(example()
        .replaceAll("(?m)^  control:.*\n(^ {20,}#.*\n)*", ""))).job().controlTopic(), "without the key: the default");
    assertEquals("tenant.requests", JobConfig.read(write(example()
        .replace("control: bonestream.control", "control: tenant.requests"))).job().controlTopic());
    BonestreamException input = assertThrows(BonestreamException.class, () -> JobConfig.read(write(example()
        .replace("control: bonestream.control", "control: bonestream.instructions"))));
    assertTrue(input.getMessage().contains("control topic") && input.getMessage().contains("input"), input.getMessage());
    BonestreamException empty = assertThrows(BonestreamException.class, () -> JobConfig.read(write(example()
        .replace("control: bonestream.control", "control: \"\""))));
    assertTrue(empty.getMessage().contains("control topic"), empty.getMessage());
  }

  @Test
  @org.junit.jupiter.api.Timeout(60)
  void anInputsUserIdSource() throws Exception {
    JobConfig c = JobConfig.read(write(exampleWithInputs()));
    assertEquals(new io.bonestream.operators.decode.ValueSource.Field("metadata.user_id"), c.job().inputs().get(1).userId());
    assertEquals(new io.bonestream.operators.decode.ValueSource.Field("metadata.user_id"), c.job().inputs().get(0).userId(),
        "the default");
    JobConfig header = JobConfig.read(write(exampleWithInputs()
        .replace("user-id: field:metadata.user_id", "user-id: header:x-user")));
    assertEquals(new io.bonestream.operators.decode.ValueSource.Header("x-user"), header.job().inputs().get(1).userId());
    BonestreamException ts = assertThrows(BonestreamException.class, () -> JobConfig.read(write(exampleWithInputs()
        .replace("user-id: field:metadata.user_id", "user-id: kafka-timestamp"))));
    assertTrue(ts.getMessage().contains("kafka-timestamp"), ts.getMessage());
  }

  @Test
  void recomputationIsABackendSetting() throws Exception {
    JobConfig c = JobConfig.read(write(example().replace("recompute: false", "recompute: true")));
    assertTrue(c.job().backend().recompute());
    assertEquals("cpu", c.job().backend().backend());
  }

  @Test
  void trustedPublicKeysMustHoldEd25519PublicKeys() throws Exception {
    io.bonestream.schemas.SigningKeys.write(io.bonestream.schemas.SigningKeys.generate(), tmp.resolve("k"), "old");
    String signing = "signing:                                  # optional";
    // the example's comment after "signing:" stays a comment ("#...")
    JobConfig.read(write(example().replace(signing, "signing:\n  trusted-public-keys: [\"" + tmp.resolve("k/old.pub")
        + "\"]\n#")));
    Files.writeString(tmp.resolve("k/bad.pub"), "hello");
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(write(example().replace(
        signing, "signing:\n  trusted-public-keys: [\"" + tmp.resolve("k/bad.pub") + "\"]\n#"))));
    assertTrue(e.getMessage().contains("trusted-public-keys") && e.getMessage().contains("bad.pub"), e.getMessage());
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(write(example().replace(
        signing, "signing:\n  trusted-public-keys: [\"" + tmp.resolve("k/none.pub") + "\"]\n#"))));
    assertTrue(e.getMessage().contains("cannot read") && e.getMessage().contains("none.pub"), e.getMessage());
  }

  @Test
  void aClustersJobManagerReadsACudaJobWithoutOpeningTheGpu() throws Exception {
    // FlinkApplication reads without the backend check: this machine may have no GPU, the
    // JobManager of a GPU deployment neither; the name and precision are still validated
    Path f = write(example().replace("backend: cpu", "backend: cuda").replace("precision: bf16", "precision: fp32"));
    JobConfig c = JobConfig.read(f, false);
    assertEquals("cuda", c.job().backend().backend());
    Path bad = write(example().replace("backend: cpu", "backend: tpu"));
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(bad, false));
    assertTrue(e.getMessage().contains("tpu"), e.getMessage());
  }

  @Test
  void overridesStartFromTheDefaults() throws Exception {
    String yaml = example().replace("adapters: []", """
        adapters:
          - match: "support-*"
            method: bone
            r: 16""");
    JobConfig c = JobConfig.read(write(yaml));
    var p = c.job().profiles().forAdapter("support-7");
    assertEquals(AdapterMethod.BONE, p.adapter().method());
    assertEquals(16, p.adapter().r());
    assertEquals(1e-4, p.train().lr());
    assertEquals(AdapterMethod.BAT, c.job().profiles().forAdapter("sales").adapter().method());
  }

  @Test
  void unknownKeysAndBadValuesAreNamed() throws Exception {
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("every-steps: 10", "every-step: 10"))));
    assertTrue(e.getMessage().contains("unknown key 'snapshots.every-step'"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("lr: 1.0e-4", "lr: fast"))));
    assertTrue(e.getMessage().contains("adapter-defaults.lr must be a number"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("interval: 30s", "interval: soon"))));
    assertTrue(e.getMessage().contains("checkpoints.interval"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("method: bat", "method: dora"))));
    assertTrue(e.getMessage().contains("dora"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("  r: 4 ", "  r: 5 "))));
    assertTrue(e.getMessage().contains("r=5"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("bootstrap-servers: localhost:9092", "group-id: x"))));
    assertTrue(e.getMessage().contains("kafka.bootstrap-servers is required")
        || e.getMessage().contains("group-id"), e.getMessage());
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(tmp.resolve("missing.yaml")));
    assertTrue(e.getMessage().contains("not found"), e.getMessage());
  }
}
