package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerateExportResumeTest {
  private static String[] trainArgs(Path out, int steps, String... extra) {
    String[] base = {"train", "--model", TestFiles.stories260K().toString(),
        "--data", TestFiles.golden().resolve("tiny_sft.jsonl").toString(), "--method", "bone", "--r", "8",
        "--steps", "" + steps, "--batch-size", "2", "--lr", "0.01", "--schedule", "cosine",
        "--warmup-steps", "1", "--out", out.toString()};
    String[] all = Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }

  @Test
  void greedyIdsThroughTheCommandMatchLlama2c() throws Exception {
    int[] golden = Arrays.stream(Files.readString(TestFiles.stories260K().resolve("golden/greedy_from_bos_200.ids"))
        .trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    Cli cli = Cli.run("generate", "--model", TestFiles.stories260K().toString(), "--prompt-ids", "1",
        "--max-new-tokens", "200", "--output", "ids");
    assertEquals(0, cli.exitCode(), cli.err());
    int[] got = Json.MAPPER.readValue(cli.out().strip(), int[].class);
    assertArrayEquals(Arrays.copyOfRange(golden, 1, golden.length), got);
  }

  @Test
  void textGenerationWithAnAdapterAndSamplingIsSeeded(@TempDir Path tmp) {
    assertEquals(0, Cli.run(trainArgs(tmp.resolve("a"), 3)).exitCode());
    String[] gen = {"generate", "--model", TestFiles.stories260K().toString(), "--adapter",
        tmp.resolve("a").toString(), "--prompt", "Once upon a time", "--max-new-tokens", "30",
        "--temperature", "0.8", "--top-p", "0.9", "--seed", "7"};
    Cli first = Cli.run(gen);
    Cli second = Cli.run(gen);
    assertEquals(0, first.exitCode(), first.err());
    assertTrue(first.out().strip().length() > 20, first.out());
    assertEquals(first.out(), second.out());
  }

  /** MiSS mini from the command line: trained, written as PEFT's MISS mini, resumed exactly. */
  @Test
  void miniTrainsAndIsWrittenAsPeftsMissMini(@TempDir Path tmp) throws Exception {
    String[] mini = {"train", "--model", TestFiles.stories260K().toString(), "--data",
        TestFiles.golden().resolve("tiny_sft.jsonl").toString(), "--method", "mini", "--r", "4", "--mini-r", "2",
        "--batch-size", "2", "--lr", "0.01", "--schedule", "constant"};
    java.util.function.BiFunction<Integer, String[], String[]> args = (steps, extra) -> {
      java.util.List<String> a = new java.util.ArrayList<>(java.util.List.of(mini));
      a.addAll(java.util.List.of("--steps", "" + steps));
      a.addAll(java.util.List.of(extra));
      return a.toArray(String[]::new);
    };
    Cli straight = Cli.run(args.apply(4, new String[] {"--out", tmp.resolve("straight").toString()}));
    assertEquals(0, straight.exitCode(), straight.err());
    String cfg = Files.readString(tmp.resolve("straight/adapter_config.json"));
    assertTrue(cfg.contains("\"init_weights\" : \"mini\"") && cfg.contains("\"mini_r\" : 2"), cfg);
    assertEquals(0, Cli.run(args.apply(2, new String[] {"--out", tmp.resolve("half").toString()})).exitCode());
    Cli resumed = Cli.run(args.apply(4, new String[] {"--out", tmp.resolve("resumed").toString(), "--resume",
        tmp.resolve("half").toString()}));
    assertEquals(0, resumed.exitCode(), resumed.err());
    assertArrayEquals(Files.readAllBytes(tmp.resolve("straight/adapter_model.safetensors")),
        Files.readAllBytes(tmp.resolve("resumed/adapter_model.safetensors")));
    Cli bad = Cli.run(args.apply(1, new String[] {"--mini-r", "7", "--out", tmp.resolve("bad").toString()}));
    assertTrue(bad.exitCode() != 0 && bad.err().contains("mini needs mini_r to divide"), bad.err());
  }

  /**
   * A trainer_state.bin written by the build of 2026-12-06 (before the state classes and codecs
   * were reorganised; {@code train ... --steps 3 --schedule constant}, the "half" run below) resumes
   * to the adapter of one run of 6 steps today, up to float32 rounding.
   */
  @Test
  void anEarlierBuildsTrainerStateResumesExactly(@TempDir Path tmp) throws Exception {
    Path fixture = Path.of("src/test/resources/fixtures/train-half-2026-12-06");
    assertTrue(Files.isRegularFile(fixture.resolve("trainer_state.bin")), fixture.toAbsolutePath().toString());
    assertEquals(0, Cli.run(trainArgs(tmp.resolve("straight"), 6, "--schedule", "constant")).exitCode());
    Cli resumed = Cli.run(trainArgs(tmp.resolve("resumed"), 6, "--schedule", "constant",
        "--resume", fixture.toString()));
    assertEquals(0, resumed.exitCode(), resumed.err());
    assertTrue(resumed.out().contains("resuming from"), resumed.out());
    // up to float32 rounding, not bytes: the first three steps were computed by the earlier build,
    // and today's engine may sum in another order (the fused attention of a later change does)
    AdapterTensors.assertClose(tmp.resolve("straight/adapter_model.safetensors"),
        tmp.resolve("resumed/adapter_model.safetensors"));
  }

  @Test
  void resumingGivesTheSameAdapterBytesAsOneRun(@TempDir Path tmp) throws Exception {
    assertEquals(0, Cli.run(trainArgs(tmp.resolve("straight"), 6, "--schedule", "constant")).exitCode());
    // with a constant schedule, so that 3 steps are the first half of 6
    assertEquals(0, Cli.run(trainArgs(tmp.resolve("half"), 3, "--schedule", "constant")).exitCode());
    Cli resumed = Cli.run(trainArgs(tmp.resolve("resumed"), 6, "--schedule", "constant",
        "--resume", tmp.resolve("half").toString()));
    assertEquals(0, resumed.exitCode(), resumed.err());
    assertTrue(resumed.out().contains("resuming from"), resumed.out());
    assertArrayEquals(Files.readAllBytes(tmp.resolve("straight/adapter_model.safetensors")),
        Files.readAllBytes(tmp.resolve("resumed/adapter_model.safetensors")));
  }

  @Test
  void exportsBoneToLoraAndBatToSvdLora(@TempDir Path tmp) throws Exception {
    assertEquals(0, Cli.run(trainArgs(tmp.resolve("bone"), 2)).exitCode());
    Cli lora = Cli.run("export", "--model", TestFiles.stories260K().toString(), "--adapter",
        tmp.resolve("bone").toString(), "--format", "lora", "--out", tmp.resolve("lora").toString());
    assertEquals(0, lora.exitCode(), lora.err());
    assertEquals("LORA", Json.readTree(tmp.resolve("lora/adapter_config.json")).get("peft_type").asText());
    String[] bat = trainArgs(tmp.resolve("bat"), 2);
    bat[Arrays.asList(bat).indexOf("bone")] = "bat";
    bat[Arrays.asList(bat).indexOf("8")] = "4";
    assertEquals(0, Cli.run(bat).exitCode());
    Cli svd = Cli.run("export", "--model", TestFiles.stories260K().toString(), "--adapter",
        tmp.resolve("bat").toString(), "--format", "lora", "--rank", "16", "--out", tmp.resolve("svd").toString());
    assertEquals(0, svd.exitCode(), svd.err());
    assertTrue(svd.out().contains("relative error"), svd.out());
    Cli merged = Cli.run("export", "--model", TestFiles.stories260K().toString(), "--adapter",
        tmp.resolve("bat").toString(), "--format", "merged", "--out", tmp.resolve("merged").toString());
    assertEquals(0, merged.exitCode(), merged.err());
    assertTrue(Files.isRegularFile(tmp.resolve("merged/model.safetensors")));
    assertTrue(Files.isRegularFile(tmp.resolve("merged/tokenizer.json")));
  }
}
