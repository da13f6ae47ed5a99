package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every user mistake: a one-line message, a non-zero exit code, no stack trace. */
class BadInputTest {
  @TempDir Path tmp;

  private static void assertOneLineError(Cli cli, int code, String... fragments) {
    assertEquals(code, cli.exitCode(), cli.err());
    String err = cli.err().strip();
    assertEquals(1, err.lines().count(), "expected one line, got:\n" + err);
    assertTrue(err.startsWith("error: "), err);
    assertFalse(err.contains("Exception") || err.contains("\tat "), err);
    for (String f : fragments) {
      assertTrue(err.contains(f), "'" + f + "' missing from: " + err);
    }
  }

  private Cli train(Path model, String data, String... extra) throws IOException {
    Path file = tmp.resolve("data.jsonl");
    Files.writeString(file, data);
    String[] base = {"train", "--model", model.toString(), "--data", file.toString(), "--r", "4",
        "--steps", "1", "--out", tmp.resolve("out").toString()};
    return Cli.run(Stream.concat(Stream.of(base), Stream.of(extra)).toArray(String[]::new));
  }

  private static final String GOOD = "{\"prompt\": \"Lily has a ball.\", \"response\": \"It is red.\"}\n";

  @Test
  void malformedJsonNamesTheLine() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(), GOOD + GOOD + "{\"prompt\": \"x\",\n"), 1,
        "line 3", "malformed JSON");
  }

  @Test
  void missingFields() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(), GOOD + "{\"prompt\": \"x\"}\n"), 1,
        "line 2", "missing field 'response'");
    assertOneLineError(train(TestFiles.stories260K(), "{\"question\": \"x\"}\n"), 1, "line 1", "unrecognized record");
    assertOneLineError(train(TestFiles.stories260K(), "{\"input_ids\": [1, 2, 3]}\n"), 1, "missing field 'labels'");
  }

  @Test
  void aResponseThatTokenizesToNothing() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(), "{\"prompt\": \"Hi\", \"response\": \"   \"}\n"), 1,
        "line 1", "response tokenizes to no tokens");
  }

  @Test
  void aModelFolderWithoutWeights() throws IOException {
    Path model = tmp.resolve("model");
    Files.createDirectories(model);
    Files.copy(TestFiles.stories260K().resolve("config.json"), model.resolve("config.json"));
    assertOneLineError(train(model, GOOD), 1, "no model weights in");
  }

  @Test
  void aTruncatedSafetensorsFile() throws IOException {
    Path model = copyModel();
    byte[] w = Files.readAllBytes(model.resolve("model.safetensors"));
    Files.write(model.resolve("model.safetensors"), java.util.Arrays.copyOf(w, w.length / 2));
    assertOneLineError(train(model, GOOD), 1, "truncated safetensors file");
  }

  @Test
  void aTokenizerThatDoesNotMatchTheVocabulary() throws IOException {
    Path model = copyModel();
    ObjectNode tok = (ObjectNode) Json.readTree(model.resolve("tokenizer.json"));
    ObjectNode extra = ((ArrayNode) tok.get("added_tokens")).addObject();
    extra.put("id", 700);
    extra.put("content", "<extra>");
    extra.put("special", true);
    Json.write(model.resolve("tokenizer.json"), tok);
    assertOneLineError(train(model, GOOD), 1, "701 tokens", "vocab_size is 512");
  }

  @Test
  void usageErrorsExitWithTwo() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--method", "dora"), 2, "--method", "dora");
    assertOneLineError(Cli.run("train", "--model", "m"), 2, "Missing required");
    assertOneLineError(Cli.run("frobnicate"), 2, "frobnicate");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--lr", "fast"), 2, "--lr");
  }

  @Test
  void badNumbersAndShapesAreRuntimeErrors() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--method", "bat", "--r", "5"), 1,
        "r=5", "model.layers.0.self_attn.q_proj");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--targets", "q_proj,wq"), 1, "'wq'");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--batch-size", "0"), 1, "batch size");
    assertOneLineError(Cli.run("train", "--model", "no/such/dir", "--data", "x.jsonl", "--r", "4",
        "--steps", "1", "--out", tmp.toString()), 1, "no/such/dir");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--data", tmp.resolve("nope.jsonl").toString()), 1,
        "data file not found");
  }

  @Test
  void noTargetLeftAfterTruncation() throws IOException {
    String chat = "{\"messages\": [{\"role\": \"assistant\", \"content\": \"Hello there.\"},"
        + " {\"role\": \"user\", \"content\": \"" + "a long question about the park ".repeat(10) + "\"}]}\n";
    assertOneLineError(train(TestFiles.stories260K(), chat, "--max-seq-len", "16"), 1,
        "no target token is left");
  }

  @Test
  void shapesAndFieldNames() throws IOException {
    String custom = "{\"q\": \"Lily has a ball.\", \"a\": \"It is red.\"}\n";
    Cli ok = train(TestFiles.stories260K(), custom, "--field", "prompt=q", "--field", "response=a");
    assertEquals(0, ok.exitCode(), ok.err());
    assertOneLineError(train(TestFiles.stories260K(), custom), 1, "line 1", "unrecognized record");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--shape", "alpaca"), 1, "line 1",
        "missing field 'instruction'");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--shape", "openai"), 1, "unknown record shape 'openai'");
    assertOneLineError(train(TestFiles.stories260K(), GOOD, "--field", "answer=a"), 1, "'answer' is not a field");
    assertOneLineError(train(TestFiles.stories260K(), "{\"messages\": [{\"role\": \"user\", \"name\": \"ann\", "
        + "\"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n"), 1, "has a name",
        "message-names");
  }

  @Test
  void inspectMistakes() throws IOException {
    assertOneLineError(Cli.run("inspect", "--topic", "t"), 1, "give --bootstrap");
    assertOneLineError(Cli.run("inspect", "--bootstrap", "localhost:1", "--topic", "t", "--format", "xml"), 1,
        "unknown input format 'xml'");
    assertOneLineError(Cli.run("inspect", "--bootstrap", "localhost:1", "--topic", "t", "--adapter-id", "column:x"), 1,
        "column:x");
    // avro records are InstructionRecords: a JSON shape or field mapping would not apply
    assertOneLineError(Cli.run("inspect", "--bootstrap", "localhost:1", "--topic", "t", "--shape", "alpaca"), 1,
        "--format avro reads InstructionRecord as it is");
    assertOneLineError(Cli.run("inspect", "--bootstrap", "localhost:1", "--topic", "t", "--format", "avro",
        "--field", "prompt=question"), 1, "--format avro reads InstructionRecord as it is");
    Path job = tmp.resolve("job.yaml");
    Files.writeString(job, "kafka: {bootstrap-servers: localhost:1}\n");
    assertOneLineError(Cli.run("inspect", "--config", job.toString(), "--topic", "t", "--format", "json"), 1,
        "drop --format");
  }

  @Test
  void unknownRole() throws IOException {
    assertOneLineError(train(TestFiles.stories260K(),
        "{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}\n"), 1, "unknown role 'wizard'");
  }

  @Test
  void generateAndExportMistakes() {
    assertOneLineError(Cli.run("generate", "--model", TestFiles.stories260K().toString(), "--prompt-ids", "1,9999"),
        1, "9999");
    assertOneLineError(Cli.run("generate", "--model", TestFiles.stories260K().toString(), "--prompt", "x",
        "--output", "xml"), 2, "--output");
    assertOneLineError(Cli.run("export", "--model", TestFiles.stories260K().toString(), "--adapter",
        tmp.resolve("none").toString(), "--format", "lora", "--out", tmp.resolve("o").toString()), 1,
        "adapter_config.json");
  }

  /** An output folder that is an input folder, or inside one, is refused before anything is written. */
  @Test
  void anOutputFolderThatWouldWriteOverAnInputIsRefused() throws Exception {
    Path model = copyModel();
    Path data = TestFiles.models().getParent().resolve("examples/colors.jsonl");
    Path adapter = tmp.resolve("adapter");
    Cli trained = Cli.run("train", "--model", model.toString(), "--data", data.toString(), "--r", "4", "--steps", "1",
        "--out", adapter.toString());
    assertEquals(0, trained.exitCode(), trained.err());
    byte[] weights = Files.readAllBytes(model.resolve("model.safetensors"));
    assertOneLineError(Cli.run("export", "--model", model.toString(), "--adapter", adapter.toString(), "--format",
        "merged", "--out", model.toString()), 1, "is the --model folder: it would be written over");
    // the same folder through a symbolic link, and a folder inside the model's
    Path link = Files.createSymbolicLink(tmp.resolve("model-link"), model);
    assertOneLineError(Cli.run("export", "--model", model.toString(), "--adapter", adapter.toString(), "--format",
        "merged", "--out", link.toString()), 1, "is the --model folder");
    assertOneLineError(Cli.run("export", "--model", model.toString(), "--adapter", adapter.toString(), "--format",
        "miss", "--out", adapter.toString()), 1, "is the --adapter folder");
    assertOneLineError(Cli.run("train", "--model", model.toString(), "--data", data.toString(), "--r", "4", "--steps",
        "1", "--out", model.resolve("adapters/a").toString()), 1, "is inside the --model folder");
    assertArrayEquals(weights, Files.readAllBytes(model.resolve("model.safetensors")), "the base model changed");
    assertFalse(Files.exists(model.resolve("adapters")), "train wrote into the model folder");
  }

  private Path copyModel() throws IOException {
    Path model = tmp.resolve("model-copy");
    Files.createDirectories(model);
    try (Stream<Path> files = Files.list(TestFiles.stories260K())) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Files.copy(f, model.resolve(f.getFileName()));
      }
    }
    return model;
  }

  @Test
  void runRestoreMistakes() throws IOException {
    Path yaml = tmp.resolve("job.yaml");
    Files.writeString(yaml, "kafka:\n  bootstrap-servers: localhost:1\nmodel: " + TestFiles.stories260K()
        + "\ncheckpoints:\n  dir: " + tmp.resolve("ckpt").toUri() + "\nblob-store: " + tmp.resolve("b").toUri()
        + "\nadapter-defaults:\n  r: 4\n");
    assertOneLineError(Cli.run("run", "--config", yaml.toString(), "--fresh", "--from-savepoint", "x"), 1,
        "exclude each other");
    assertOneLineError(Cli.run("run", "--config", yaml.toString(), "--from-savepoint",
        tmp.resolve("no-such-savepoint").toString()), 1, "no checkpoint or savepoint at");
    Files.writeString(yaml, Files.readString(yaml).replace("model: " + TestFiles.stories260K(), "model: modles/x"));
    assertOneLineError(Cli.run("run", "--config", yaml.toString()), 1, "model folder not found: modles/x",
        "(a relative path is taken from the working folder, " + Path.of("").toAbsolutePath() + ")");
  }

  @Test
  void demoMistakes() throws IOException {
    assertOneLineError(Cli.run("demo", "--duration", "0s"), 1, "--duration must be longer than 0 s");
    assertOneLineError(Cli.run("demo", "--duration", "banana"), 1, "'banana' is not a duration");
    // a port that something else listens on (a first demo): its name, before anything starts
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      String port = String.valueOf(taken.getLocalPort());
      assertOneLineError(Cli.run("demo", "--kafka-port", port), 1,
          "port " + port + " on localhost (--kafka-port) is in use");
      assertOneLineError(Cli.run("demo", "--kafka-port", "0", "--ui-port", port), 1,
          "port " + port + " on 127.0.0.1 (--ui-port) is in use");
      assertOneLineError(Cli.run("demo", "--kafka-port", "0", "--ui-port", "0", "--metrics-port", port), 1,
          "(--metrics-port) is in use");
      assertOneLineError(Cli.run("demo", "--kafka-port", "0", "--ui-port", "0", "--metrics-port", "0", "--serve-port",
          port), 1, "(--serve-port) is in use");
      Path yaml = tmp.resolve("ports.yaml");
      Files.writeString(yaml, "kafka:\n  bootstrap-servers: localhost:1\nmodel: " + TestFiles.stories260K()
          + "\ncheckpoints:\n  dir: " + tmp.resolve("ckpt").toUri() + "\nblob-store: " + tmp.resolve("b").toUri()
          + "\nadapter-defaults:\n  r: 4\nflink:\n  rest.port: " + port + "\n");
      assertOneLineError(Cli.run("run", "--config", yaml.toString()), 1,
          "(the web UI: rest.port in job.yaml's flink section) is in use");
      assertOneLineError(Cli.run("serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
          "--allow-unsigned", "--port", port), 1, "port " + port + " on 127.0.0.1 (--port) is in use");
      assertOneLineError(Cli.run("broker", "--data-dir", tmp.resolve("broker").toString(), "--port", port), 1,
          "port " + port + " on localhost (--port) is in use");
    }
  }

  @Test
  void s3Mistakes() {
    String[] serve = {"serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
        "--allow-unsigned"};
    java.util.function.Function<String[], Cli> run = extra -> Cli.run(
        Stream.concat(Stream.of(serve), Stream.of(extra)).toArray(String[]::new));
    assertOneLineError(run.apply(new String[] {"--s3-endpoint", "minio:9000"}), 2, "--s3-endpoint",
        "minio:9000 is not an http:// or https:// URL");
    assertOneLineError(run.apply(new String[] {"--s3-endpoint", "http://minio:9000/bonestream"}), 2,
        "has a path, query or fragment");
    assertOneLineError(run.apply(new String[] {"--s3-region", "us east 1"}), 2, "--s3-region",
        "'us east 1' is not a region name");
    assertOneLineError(run.apply(new String[] {"--s3-path-style", "--s3-virtual-host"}), 2, "exclude each other");
  }

  @Test
  void serveLimitMistakes() throws IOException {
    String[] serve = {"serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
        "--allow-unsigned"};
    java.util.function.Function<String[], Cli> run = extra -> Cli.run(
        Stream.concat(Stream.of(serve), Stream.of(extra)).toArray(String[]::new));
    assertOneLineError(run.apply(new String[] {"--concurrency", "0"}), 2, "--concurrency must be at least 1");
    assertOneLineError(run.apply(new String[] {"--max-prompt-tokens", "-5"}), 2, "--max-prompt-tokens must be at least 1");
    assertOneLineError(run.apply(new String[] {"--queue", "-1"}), 2, "--queue cannot be negative");
    assertOneLineError(run.apply(new String[] {"--request-timeout", "soon"}), 1, "--request-timeout", "not a duration");
    assertOneLineError(run.apply(new String[] {"--merged-cache", "lots"}), 1, "--merged-cache", "not a size");
    Path shortToken = tmp.resolve("api.token");
    Files.writeString(shortToken, "short");
    assertOneLineError(run.apply(new String[] {"--api-token-file", shortToken.toString()}), 1,
        "API token must be at least 16 characters");
  }

  @Test
  void vllmMistakes() throws IOException {
    String[] serve = {"serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
        "--allow-unsigned"};
    java.util.function.Function<String[], Cli> run = extra -> Cli.run(
        Stream.concat(Stream.of(serve), Stream.of(extra)).toArray(String[]::new));
    String dir = tmp.resolve("exports").toString();
    assertOneLineError(run.apply(new String[] {"--vllm-url", "http://127.0.0.1:8000"}), 2, "--vllm-url",
        "needs --export-dir");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-url", "http://127.0.0.1:8000",
        "--vllm-max-lora-rank", "24"}), 2, "--vllm-max-lora-rank", "[1, 8, 16, 32, 64, 128, 256, 320, 512]", "not 24");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-url", "http://vllm.inference.svc:8000"}),
        1, "not loopback", "unencrypted");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-url", "vllm:8000"}), 1,
        "not an http:// or https:// URL");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-api-key-file", "k"}), 2,
        "--vllm-api-key-file is for --vllm-url");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-base-model-name", "m"}), 2,
        "--vllm-base-model-name is for --export-layout vllm or --vllm-url");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--export-layout", "lora"}), 2,
        "--export-layout is peft or vllm");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--export-layout", "peft", "--vllm-url",
        "http://127.0.0.1:8000"}), 2, "exclude each other");
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-url", "http://127.0.0.1:8000",
        "--vllm-lora-path-prefix", "adapters"}), 1, "absolute path");
    Path key = tmp.resolve("vllm.key");
    Files.writeString(key, "a-key-for-vllm");
    java.nio.file.Files.setPosixFilePermissions(key, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    assertOneLineError(run.apply(new String[] {"--export-dir", dir, "--vllm-url", "http://127.0.0.1:8000",
        "--vllm-api-key-file", key.toString()}), 1, "chmod 600");
  }

  @Test
  void signingMistakes() throws IOException {
    assertOneLineError(Cli.run("serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1"),
        2, "--public-key", "--allow-unsigned");
    assertEquals(0, Cli.run("keygen", "--out", tmp.resolve("both").toString()).exitCode());
    assertOneLineError(Cli.run("serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
        "--public-key", tmp.resolve("both/signing.pub").toString(), "--allow-unsigned"), 2, "exclude each other");
    Path notAKey = tmp.resolve("not-a-key.pub");
    Files.writeString(notAKey, "hello");
    assertOneLineError(Cli.run("serve", "--model", TestFiles.stories260K().toString(), "--bootstrap", "localhost:1",
        "--public-key", notAKey.toString()), 1, "not-a-key.pub", "PUBLIC KEY");
    assertEquals(0, Cli.run("keygen", "--out", tmp.resolve("k").toString()).exitCode());
    assertOneLineError(Cli.run("keygen", "--out", tmp.resolve("k").toString()), 1, "exists", "--force");
    Path yaml = tmp.resolve("signed.yaml");
    Files.writeString(yaml, "kafka:\n  bootstrap-servers: localhost:1\nmodel: " + TestFiles.stories260K()
        + "\ncheckpoints:\n  dir: " + tmp.resolve("ckpt").toUri() + "\nblob-store: " + tmp.resolve("b").toUri()
        + "\nadapter-defaults:\n  r: 4\nsigning:\n  private-key-file: " + tmp.resolve("k/missing.key") + "\n");
    assertOneLineError(Cli.run("run", "--config", yaml.toString()), 1, "signing key file", "not found");
  }

  @Test
  @org.junit.jupiter.api.Timeout(60)
  void aBrokerThatDoesNotAnswerIsSaidSo() throws IOException {
    // the producer's wait for the topic's metadata, shortened from its 60 s
    Path client = tmp.resolve("client.properties");
    Files.writeString(client, "max.block.ms=2000\n");
    String nobody;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      nobody = "localhost:" + s.getLocalPort(); // closed again: nothing listens there
    }
    Path data = tmp.resolve("one.jsonl");
    Files.writeString(data, GOOD);
    assertOneLineError(Cli.run("produce", "--bootstrap", nobody, "--kafka-config", client.toString(), "--adapter",
        "a", "--file", data.toString()), 1, "no answer from Kafka at " + nobody);
    assertOneLineError(Cli.run("erase", "--bootstrap", nobody, "--kafka-config", client.toString(), "--adapter", "a",
        "--user-id", "u"), 1, "no answer from Kafka at " + nobody);
    // run: before the job starts (it would fail over again and again, each time with a page of stack traces)
    Path yaml = tmp.resolve("nobody.yaml");
    Files.writeString(yaml, "kafka:\n  bootstrap-servers: " + nobody + "\n  properties: {default.api.timeout.ms: 2000}"
        + "\nmodel: " + TestFiles.stories260K() + "\ncheckpoints:\n  dir: " + tmp.resolve("ckpt").toUri()
        + "\nblob-store: " + tmp.resolve("b").toUri() + "\nadapter-defaults:\n  r: 4\n");
    assertOneLineError(Cli.run("run", "--config", yaml.toString()), 1,
        "no answer from Kafka at " + nobody + " within 2 s (kafka.bootstrap-servers in nobody.yaml)");
    Files.writeString(yaml, Files.readString(yaml).replace("default.api.timeout.ms: 2000", "default.api.timeout.ms: soon"));
    assertOneLineError(Cli.run("run", "--config", yaml.toString()), 1, "default.api.timeout.ms", "'soon'");
  }
}
