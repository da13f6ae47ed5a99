package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.engine.TestFiles;
import io.bonestream.operators.train.AdapterProfiles;
import io.bonestream.operators.train.ContinualPolicy;
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

  @Test
  void aYamlSyntaxErrorSaysWhereAndWhat() throws Exception {
    Path f = write("kafka:\n  bootstrap-servers: localhost:9092\ntopics:\n  adapters: [a, b\n");
    BonestreamException e = assertThrows(BonestreamException.class, () -> JobConfig.read(f));
    assertTrue(e.getMessage().startsWith("cannot read " + f + ": line 5, column 1: "), e.getMessage());
    assertTrue(e.getMessage().contains("expected ',' or ']'"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    Path tab = write("kafka:\n\tbootstrap-servers: x\n");
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(tab));
    assertTrue(e.getMessage().startsWith("cannot read " + tab + ": line 2, column 1: "), e.getMessage());
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
  void controlKeysMakeTheJobActOnlyOnSignedRequests() throws Exception {
    assertFalse(JobConfig.read(write(example())).job().controlTrust().requiresSignature(), "by default: any request");
    io.bonestream.schemas.SigningKeys.write(io.bonestream.schemas.SigningKeys.generate(), tmp.resolve("k"), "control");
    String control = "  # public-keys: [/secrets/control.pub]";
    String keys = "  public-keys: [\"" + tmp.resolve("k/control.pub") + "\"]";
    var trust = JobConfig.read(write(example().replace(control, keys))).job().controlTrust();
    assertTrue(trust.requiresSignature());
    assertEquals(java.time.Duration.ofDays(1), trust.maxAge());
    trust = JobConfig.read(write(example().replace(control, keys).replace("  # max-age: 1d", "  max-age: 2h")))
        .job().controlTrust();
    assertEquals(java.time.Duration.ofHours(2), trust.maxAge());
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(example().replace("  # max-age: 1d", "  max-age: 2h"))));
    assertTrue(e.getMessage().contains("max-age") && e.getMessage().contains("public-keys"), e.getMessage());
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(write(example().replace(control,
        "  public-keys: [\"" + tmp.resolve("k/control.key") + "\"]"))));
    assertTrue(e.getMessage().contains("public-keys") && e.getMessage().contains("control.key")
        && e.getMessage().contains("holds a private key"), e.getMessage());
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

  /** The example's commented continual-learning keys, made live, the anchor file from the repository. */
  private String exampleWithContinual() throws Exception {
    StringBuilder out = new StringBuilder();
    boolean in = false;
    for (String line : example().split("\n", -1)) {
      if (line.startsWith("  # anchor:")) {
        in = true;
      } else if (in && !line.startsWith("  #   ") && !line.startsWith("  # replay:") && !line.startsWith("  # drift:")
          && !line.startsWith("  # erasure-retrain:")) {
        in = false;
      }
      out.append(in ? "  " + line.substring(4) : line).append('\n');
    }
    return out.toString().replace("file: examples/anchor-stories.jsonl",
        "file: \"" + TestFiles.models().getParent().resolve("examples/anchor-stories.jsonl") + "\"");
  }

  private Path anchorFile(String name, String... lines) throws Exception {
    Path f = tmp.resolve(name);
    Files.writeString(f, String.join("\n", lines) + "\n");
    return f;
  }

  private static final String RECORDS = """
      {"text": "Once upon a time there was a cat."}

      {"prompt": "What color is the sky?", "response": "Blue."}
      {"instruction": "Say hi", "output": "Hi!"}
      {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there."}]}
      """;

  /** The example with {@code keys} (one flow-style key a line) in adapter-defaults. */
  private String withDefaults(String keys) throws Exception {
    StringBuilder indented = new StringBuilder();
    keys.strip().lines().forEach(l -> indented.append("  ").append(l.strip()).append('\n'));
    return example().replace("  gate-tolerance: 0.05", indented + "  gate-tolerance: 0.05");
  }

  @Test
  void theDocumentedContinualKeysAreValid() throws Exception {
    var p = JobConfig.read(write(exampleWithContinual())).job().profiles().defaults().continual();
    assertTrue(p.anchor().enabled());
    assertEquals("anchor-stories.jsonl", p.anchor().source());
    assertEquals(1, p.anchor().everyVersions());
    assertEquals(16_384, p.anchor().maxTokens());
    assertEquals(0.10, p.anchor().tolerance());
    assertTrue(p.anchor().gate());
    assertEquals(new ContinualPolicy.Replay(0.25, 256, 4L << 20), p.replay());
    assertEquals(ContinualPolicy.Drift.DEFAULT, p.drift());
    assertEquals(false, p.retrainOnErasure());
    // without the keys: all off
    assertEquals(ContinualPolicy.OFF, JobConfig.read(write(example())).job().profiles().defaults().continual());
  }

  @Test
  void continualKeysAreReadWithTheirDefaults() throws Exception {
    Path anchor = anchorFile("anchor.jsonl", RECORDS);
    JobConfig c = JobConfig.read(write(withDefaults("""
          anchor: {file: "%s", every-versions: 3, every-tokens: 5000, max-tokens: 2048, tolerance: 0.2, gate: false}
          replay: {ratio: 0.5, capacity: 64, max-bytes: 1MiB}
          drift: {alpha: 0.2, k: 2, min-rise: 0.3, sustain: 4, warmup: 5, on-drift: pin}
          eval-fraction: 0.1
          erasure-retrain: true""".formatted(anchor))));
    var p = c.job().profiles().defaults().continual();
    assertEquals(new ContinualPolicy.Anchor("anchor.jsonl", java.util.List.of(
        "{\"text\": \"Once upon a time there was a cat.\"}",
        "{\"prompt\": \"What color is the sky?\", \"response\": \"Blue.\"}",
        "{\"instruction\": \"Say hi\", \"output\": \"Hi!\"}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}, {\"role\": \"assistant\", \"content\": \"Hi there.\"}]}"),
        3, 5000, 2048, 0.2, false), p.anchor());
    assertEquals(new ContinualPolicy.Replay(0.5, 64, 1L << 20), p.replay());
    assertEquals(new ContinualPolicy.Drift(true, 0.2, 2, 0.3, 4, 5, ContinualPolicy.OnDrift.PIN), p.drift());
    assertTrue(p.retrainOnErasure());

    // a section given without keys: its defaults; the anchor's file is required
    p = JobConfig.read(write(withDefaults("""
          anchor: {file: "%s"}
          replay: {}
          drift: {}""".formatted(anchor)))).job().profiles().defaults().continual();
    assertEquals(new ContinualPolicy.Anchor("anchor.jsonl", p.anchor().lines(), 1, 16_384, 0.10, true), p.anchor());
    assertEquals(4, p.anchor().lines().size());
    assertEquals(new ContinualPolicy.Replay(0.25, 256, 4L << 20), p.replay());
    assertEquals(ContinualPolicy.Drift.DEFAULT, p.drift());
    assertEquals(false, p.retrainOnErasure());
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {gate: false}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.anchor.file is required"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  replay: {ratio: 0.5, size: 3}"))));
    assertTrue(e.getMessage().contains("unknown key 'adapter-defaults.replay.size'"), e.getMessage());
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  replay: {ratio: 5}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.replay") && e.getMessage().contains("ratio"), e.getMessage());
    // enabled: false turns drift off
    assertEquals(false, JobConfig.read(write(withDefaults("  drift: {enabled: false}")))
        .job().profiles().defaults().continual().drift().enabled());
  }

  @Test
  void aDriftPinWithoutAnEvalSetIsRefused() throws Exception {
    var e = org.junit.jupiter.api.Assertions.assertThrows(io.bonestream.core.BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("""
          drift: {on-drift: pin}"""))));
    assertTrue(e.getMessage().contains("pin needs an eval set"), e.getMessage());
  }

  @Test
  void overridesInheritEachContinualSectionUnlessTheyGiveIt() throws Exception {
    Path anchor = anchorFile("anchor.jsonl", RECORDS);
    String yaml = withDefaults("""
          anchor: {file: "%s", tolerance: 0.2}
          replay: {ratio: 0.5, capacity: 64}
          drift: {on-drift: pin}
          eval-fraction: 0.1
          erasure-retrain: true""".formatted(anchor)).replace("adapters: []", """
        adapters:
          - match: "support-*"
            replay: {capacity: 16}
            drift: {enabled: false}
          - match: "sales-*"
            erasure-retrain: false
            r: 2
          - match: "raw-*"
            anchor: {enabled: false}""");
    AdapterProfiles profiles = JobConfig.read(write(yaml)).job().profiles();
    ContinualPolicy d = profiles.defaults().continual();
    ContinualPolicy support = profiles.forAdapter("support-1").continual();
    assertEquals(d.anchor(), support.anchor());
    assertEquals(new ContinualPolicy.Replay(0.25, 16, 4L << 20), support.replay()); // the section's defaults, not the inherited one's
    assertEquals(false, support.drift().enabled());
    assertTrue(support.retrainOnErasure());
    ContinualPolicy sales = profiles.forAdapter("sales-1").continual();
    assertEquals(new ContinualPolicy(d.anchor(), d.replay(), d.drift(), false), sales);
    assertEquals(ContinualPolicy.OnDrift.PIN, sales.drift().onDrift());
    assertEquals(d, profiles.forAdapter("other").continual());
    ContinualPolicy raw = profiles.forAdapter("raw-1").continual();
    assertEquals(ContinualPolicy.Anchor.OFF, raw.anchor(), "an override turns off the anchor it would inherit");
    assertEquals(d.replay(), raw.replay());
    var both = org.junit.jupiter.api.Assertions.assertThrows(io.bonestream.core.BonestreamException.class,
        () -> JobConfig.read(write(yaml.replace("anchor: {enabled: false}",
            "anchor: {enabled: false, file: \"" + anchor + "\"}"))));
    assertTrue(both.getMessage().contains("give file or enabled: false, not both"), both.getMessage());
  }

  @Test
  void rewarmNeedsWarmupAndOnDriftIsChecked() throws Exception {
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  drift: {on-drift: rewarm}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.drift.on-drift rewarm needs warmup-steps above 0"),
        e.getMessage());
    String rewarm = withDefaults("  drift: {on-drift: rewarm}").replace("warmup-steps: 0", "warmup-steps: 4");
    assertEquals(ContinualPolicy.OnDrift.REWARM,
        JobConfig.read(write(rewarm)).job().profiles().defaults().continual().drift().onDrift());
    // an override that inherits rewarm cannot drop the warmup
    e = assertThrows(BonestreamException.class, () -> JobConfig.read(write(rewarm.replace("adapters: []", """
        adapters:
          - match: "a"
            warmup-steps: 0"""))));
    assertTrue(e.getMessage().contains("adapters[0].drift.on-drift rewarm needs warmup-steps"), e.getMessage());
    // nor when drift is off
    JobConfig.read(write(rewarm.replace("adapters: []", """
        adapters:
          - match: "a"
            warmup-steps: 0
            drift: {enabled: false, on-drift: rewarm}""")));
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  drift: {on-drift: restart}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.drift") && e.getMessage().contains("'restart'")
        && e.getMessage().contains("none, rewarm or pin"), e.getMessage());
  }

  @Test
  void aBadAnchorFileIsOneLineNamingTheFileAndLine() throws Exception {
    Path bad = anchorFile("bad.jsonl", "{\"text\": \"fine\"}", "", "{\"prompt\": \"no response\" ");
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + bad + "\"}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.anchor.file") && e.getMessage().contains("bad.jsonl line 3")
        && e.getMessage().contains("not JSON"), e.getMessage());
    assertTrue(!e.getMessage().contains("\n"), e.getMessage());

    Path unknown = anchorFile("unknown.jsonl", "{\"text\": \"fine\"}", "{\"question\": \"?\"}");
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + unknown + "\"}"))));
    assertTrue(e.getMessage().contains("unknown.jsonl line 2") && e.getMessage().contains("unrecognized record"),
        e.getMessage());
    assertTrue(!e.getMessage().contains("\n"), e.getMessage());

    Path notObject = anchorFile("array.jsonl", "[1, 2]");
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + notObject + "\"}"))));
    assertTrue(e.getMessage().contains("array.jsonl line 1"), e.getMessage());

    e = assertThrows(BonestreamException.class, () -> JobConfig.read(write(withDefaults(
        "  anchor: {file: \"" + tmp.resolve("none.jsonl") + "\"}"))));
    assertTrue(e.getMessage().contains("adapter-defaults.anchor.file not found") && e.getMessage().contains("none.jsonl"),
        e.getMessage());

    Path empty = anchorFile("empty.jsonl", "", "  ");
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + empty + "\"}"))));
    assertTrue(e.getMessage().contains("holds no records"), e.getMessage());
  }

  @Test
  void anAnchorFileIsBounded() throws Exception {
    String record = "{\"text\": \"a\"}";
    Path many = anchorFile("many.jsonl", java.util.Collections.nCopies(JobConfig.ANCHOR_MAX_LINES + 1, record)
        .toArray(String[]::new));
    BonestreamException e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + many + "\"}"))));
    assertTrue(e.getMessage().contains("many.jsonl has more than 4096 records"), e.getMessage());
    // exactly the bound is fine
    Path enough = anchorFile("enough.jsonl", java.util.Collections.nCopies(JobConfig.ANCHOR_MAX_LINES, record)
        .toArray(String[]::new));
    assertEquals(JobConfig.ANCHOR_MAX_LINES, JobConfig.read(write(withDefaults("  anchor: {file: \"" + enough + "\"}")))
        .job().profiles().defaults().continual().anchor().lines().size());

    Path big = anchorFile("big.jsonl", "{\"text\": \"" + "a".repeat((int) JobConfig.ANCHOR_MAX_BYTES) + "\"}");
    e = assertThrows(BonestreamException.class,
        () -> JobConfig.read(write(withDefaults("  anchor: {file: \"" + big + "\"}"))));
    assertTrue(e.getMessage().contains("big.jsonl is") && e.getMessage().contains("at most 4194304 bytes"),
        e.getMessage());
  }
}
