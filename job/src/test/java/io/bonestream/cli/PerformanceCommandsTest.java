package io.bonestream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.adapters.AdapterMethod;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.job.compare.LearningComparison;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code compare}, {@code bench --memory}, {@code bench --streaming}, {@code bench --decode} and {@code bench
 * --continual} run and
 * report what they measured.
 */
class PerformanceCommandsTest {
  @TempDir Path tmp;

  @Test
  void compareScenarioDriftWritesItsCsvAndPlot() throws Exception {
    String anchor = TestFiles.models().getParent().resolve("examples/anchor-stories.jsonl").toString();
    Cli cli = Cli.run("compare", "--scenario", "drift", "--model", TestFiles.stories260K().toString(), "--anchor",
        anchor, "--steps", "6", "--eval-every", "3", "--batch-size", "4", "--replay-capacity", "8", "--threads", "1",
        "--out", tmp.toString());
    assertEquals(0, cli.exitCode(), cli.err());
    List<String> rows = Files.readAllLines(tmp.resolve("drift.csv"));
    assertEquals("scenario,run,phase,step,train_loss,eval_loss_a,eval_loss_b,anchor_loss,base_anchor_loss,drift,"
        + "held_back", rows.get(0));
    // two runs evaluated at steps 0, 3, 6 (the switch) 9 and 12; too few batches for a drift event (warmup 8)
    assertEquals(1 + 2 * 5, rows.size(), rows.toString());
    assertTrue(rows.get(1).startsWith("drift,replay-off,A,0,"), rows.get(1));
    assertTrue(rows.get(rows.size() - 1).startsWith("drift,replay-on,B,12,"), rows.get(rows.size() - 1));
    BufferedImage png = ImageIO.read(tmp.resolve("drift.png").toFile());
    assertNotNull(png, "not a PNG");
    assertTrue(cli.out().contains("| replay-on |"), cli.out());
  }

  @Test
  void compareScenarioBadInputIsAOneLineError() throws Exception {
    String model = TestFiles.stories260K().toString();
    String[][] bad = {
        {"--scenario", "forgetting"}, {"--scenario", "drift", "--task-a", "colors", "--task-b", "colors"},
        {"--scenario", "drift", "--methods", "bone"}, {"--scenario", "learning", "--replay-ratio", "0.5"},
        {"--scenario", "harm", "--anchor", tmp.resolve("none.jsonl").toString()},
        {"--scenario", "drift", "--replay-ratio", "9"}, {"--scenario", "harm", "--anchor-tolerance", "-1"}};
    String[] expected = {"unknown scenario 'forgetting'", "must differ", "--methods does not apply",
        "--replay-ratio does not apply", "anchor file not found", "replay ratio must be in [0, 4]",
        "anchor tolerance must be ≥ 0"};
    for (int i = 0; i < bad.length; i++) {
      List<String> args = new ArrayList<>(List.of("compare", "--model", model, "--out", tmp.toString()));
      args.addAll(List.of(bad[i]));
      Cli cli = Cli.run(args.toArray(String[]::new));
      assertEquals(1, cli.exitCode(), String.join(" ", bad[i]) + ": " + cli.err());
      assertEquals(1, cli.err().strip().lines().count(), cli.err());
      assertTrue(cli.err().contains(expected[i]), cli.err());
    }
  }

  @Test
  void loraGetsTheRankWhoseParameterCountIsNearestToTheBudget() {
    ModelConfig c = ModelConfig.read(TestFiles.stories260K());
    long budget = AdapterLayout.of(c, AdapterConfig.builder().method(AdapterMethod.BONE).r(4).build()).size();
    int r = LearningComparison.loraRankFor(c, budget);
    long at = lora(c, r);
    assertTrue(Math.abs(at - budget) <= Math.abs(lora(c, r + 1) - budget), "r+1 is nearer");
    if (r > 1) {
      assertTrue(Math.abs(at - budget) <= Math.abs(lora(c, r - 1) - budget), "r-1 is nearer");
    }
  }

  private static long lora(ModelConfig c, int r) {
    return AdapterLayout.of(c, AdapterConfig.builder().method(AdapterMethod.LORA).r(r).build()).size();
  }

  @Test
  void compareWritesTheCurvesAsCsvAndAPlot() throws Exception {
    Cli cli = Cli.run("compare", "--model", TestFiles.stories260K().toString(), "--task", "colors",
        "--methods", "bone,lora", "--lrs", "1e-2", "--steps", "6", "--eval-every", "3", "--batch-size", "4",
        "--train-examples", "16", "--threads", "1", "--out", tmp.toString());
    assertEquals(0, cli.exitCode(), cli.err());
    List<String> rows = Files.readAllLines(tmp.resolve("curves.csv"));
    assertEquals("method,rank,parameters,lr,step,train_loss,eval_loss", rows.get(0));
    assertEquals(1 + 2 * 3, rows.size(), "two runs, evaluated at steps 0, 3 and 6: " + rows);
    Map<String, List<String[]>> byMethod = new HashMap<>();
    for (String row : rows.subList(1, rows.size())) {
      String[] f = row.split(",", -1);
      byMethod.computeIfAbsent(f[0], k -> new ArrayList<>()).add(f);
    }
    // both adapters start as the identity (bone's blocks and LoRA's B are zero): the base model's loss
    double bone0 = Double.parseDouble(byMethod.get("bone").get(0)[6]);
    double lora0 = Double.parseDouble(byMethod.get("lora").get(0)[6]);
    assertEquals(bone0, lora0, 1e-6);
    for (List<String[]> run : byMethod.values()) {
      assertEquals(List.of("0", "3", "6"), run.stream().map(f -> f[4]).toList());
      assertTrue(Double.parseDouble(run.get(2)[6]) < Double.parseDouble(run.get(0)[6]),
          run.get(0)[0] + ": the held-out loss did not fall in 6 steps at lr 1e-2");
    }
    long boneParams = Long.parseLong(byMethod.get("bone").get(0)[2]);
    long loraParams = Long.parseLong(byMethod.get("lora").get(0)[2]);
    assertTrue(Math.abs(loraParams - boneParams) < 0.5 * boneParams, "budgets " + boneParams + " vs " + loraParams);
    BufferedImage png = ImageIO.read(tmp.resolve("eval_loss.png").toFile());
    assertNotNull(png, "not a PNG");
    assertEquals(1000, png.getWidth());
    assertTrue(cli.out().contains("| bone | 4 |"), cli.out());
  }

  @Test
  void benchMemoryShowsEachExtraAdapterCostingAtMostItsStateBytes() throws Exception {
    // the 25M shape with a tiny batch: the adapters are the 25M ones (r 32), the steps quick
    Cli cli = Cli.run("bench", "--memory", "1,4", "--configs", "25M", "--methods", "bone,bat", "--batch", "1",
        "--seq", "16", "--threads", "1");
    assertEquals(0, cli.exitCode(), cli.err());
    Map<String, Map<Integer, JsonNode>> byMethod = new HashMap<>();
    for (String line : cli.out().split("\n")) {
      if (line.startsWith("{")) {
        JsonNode j = Json.MAPPER.readTree(line);
        byMethod.computeIfAbsent(j.get("method").asText(), k -> new HashMap<>()).put(j.get("adapters").asInt(), j);
      }
    }
    for (String method : List.of("bone", "bat")) {
      Map<Integer, JsonNode> m = byMethod.get(method);
      assertNotNull(m, method + " missing: " + cli.out());
      JsonNode one = m.get(1);
      JsonNode four = m.get(4);
      long params = one.get("parameterBytes").asLong(); // float32 parameters of one adapter
      assertTrue(params > 1_000_000, method + ": " + params + " parameter bytes");
      double extra = (total(four) - total(one)) / 3.0;
      // parameters, two Adam moments and a gradient: 4x the parameter bytes; 4.2x allows the trainer's
      // own small objects. A guide (a copy of the base weights per bat adapter) would be ~40x.
      assertTrue(extra <= 4.2 * params, method + ": each extra adapter costs " + extra + " bytes, "
          + extra / params + "x its " + params + " parameter bytes");
      // the parameters, their gradients and both moments are native or device memory: counted, not sampled
      double counted = (offHeap(four) - offHeap(one)) / 3.0;
      assertTrue(counted >= 3.0 * params, method + ": " + counted + " bytes per adapter outside the heap is below "
          + "its parameters and moments: the measurement misses memory");
      // a checkpoint holds the parameters and both moments of each adapter (float32), plus small counters
      long state = four.get("stateBytes").asLong();
      assertTrue(state >= 4 * 3 * params && state <= 4 * 3.2 * params, method + ": state bytes " + state);
    }
  }

  private static double offHeap(JsonNode j) {
    return j.get("nativeBytes").asDouble() + j.get("deviceBytes").asDouble();
  }

  private static double total(JsonNode j) {
    return j.get("heapBytes").asDouble() + j.get("nativeBytes").asDouble() + j.get("deviceBytes").asDouble();
  }

  @Test
  void benchStreamingTrainsThroughKafkaAndFlinkAndTimesEachVersion() throws Exception {
    Cli cli = Cli.run("bench", "--streaming", "6", "--snapshot-every", "2", "--checkpoint-ms", "500", "--model",
        TestFiles.stories260K().toString(), "--methods", "bone", "--batch", "4", "--seq", "32");
    assertEquals(0, cli.exitCode(), cli.err());
    JsonNode r = null;
    for (String line : cli.out().split("\n")) {
      if (line.startsWith("{")) {
        r = Json.MAPPER.readTree(line);
      }
    }
    assertNotNull(r, cli.out());
    assertEquals(3, r.get("versions").asInt(), "6 steps, a version every 2");
    assertEquals(3, r.get("freshnessSeconds").size());
    for (JsonNode f : r.get("freshnessSeconds")) {
      // applied after it was created, and within a minute on any machine
      assertTrue(f.asDouble() >= 0 && f.asDouble() < 60, "freshness " + f);
    }
    assertTrue(r.get("streamingTokensPerSecond").asDouble() > 0 && r.get("engineTokensPerSecond").asDouble() > 0);
  }

  @Test
  void benchDecodePrintsAvroAndJsonRecordsPerSecondForEachShape() throws Exception {
    Cli cli = Cli.run("bench", "--decode", "12", "--warmup", "1", "--steps", "2", "--seq", "64", "--model",
        TestFiles.stories260K().toString());
    assertEquals(0, cli.exitCode(), cli.err());
    Map<String, JsonNode> byShape = new HashMap<>();
    for (String line : cli.out().split("\n")) {
      if (line.startsWith("{")) {
        JsonNode j = Json.MAPPER.readTree(line);
        byShape.put(j.get("shape").asText(), j);
      }
    }
    assertEquals(java.util.Set.of("prompt-response", "chat", "alpaca"), byShape.keySet(), cli.out());
    for (JsonNode j : byShape.values()) {
      assertEquals(12, j.get("records").asInt());
      assertEquals(2, j.get("rounds").asInt());
      double avro = j.get("avroRecordsPerSecond").asDouble();
      double json = j.get("jsonRecordsPerSecond").asDouble();
      assertTrue(avro > 0 && json > 0 && Double.isFinite(avro) && Double.isFinite(json), j.toString());
      assertTrue(j.get("jsonOverAvro").asDouble() > 0 && j.get("wallJsonOverAvro").asDouble() > 0, j.toString());
      assertTrue(j.get("jsonOverAvroMin").asDouble() <= j.get("jsonOverAvroMax").asDouble(), j.toString());
      assertTrue(j.get("tokensPerRecord").asDouble() > 1, j.toString());
      // the same content: JSON spells out the field names Avro leaves to its schema
      assertTrue(j.get("jsonBytes").asDouble() > j.get("avroBytes").asDouble(), j.toString());
      String row = "| " + j.get("shape").asText() + " | 12 × 2 | ";
      assertTrue(cli.out().contains(row), "no table row " + row + " in " + cli.out());
    }
    assertTrue(cli.out().contains("| shape | records × rounds | Avro records/s | JSON records/s | JSON ÷ Avro (rounds) |"),
        cli.out());
  }

  @Test
  void benchContinualPrintsEachGuardsCostAgainstThePlainStep() throws Exception {
    Cli cli = Cli.run("bench", "--continual", "4", "--warmup", "1", "--repeat", "2", "--seq", "64", "--model",
        TestFiles.stories260K().toString());
    assertEquals(0, cli.exitCode(), cli.err());
    JsonNode j = null;
    for (String line : cli.out().split("\n")) {
      if (line.startsWith("{")) {
        j = Json.MAPPER.readTree(line);
      }
    }
    assertNotNull(j, cli.out());
    assertEquals("bat", j.get("method").asText());
    assertEquals(4, j.get("steps").asInt());
    assertEquals(2, j.get("repeats").asInt());
    assertTrue(j.get("plainSeconds").asDouble() > 0 && j.get("replaySeconds").asDouble() > 0, j.toString());
    assertEquals(j.get("trainingStateBytes").asLong(), j.get("versionStateBytes").asLong(), j.toString());
    assertTrue(cli.out().contains("$ bonestream bench --continual 4"), cli.out());
    assertTrue(cli.out().contains("| (a) plain step | "), cli.out());
    assertTrue(cli.out().contains("| erasure-retrain version state | "), cli.out());
    assertTrue(cli.out().contains("| erasure-retrain record of the ids trained since the version (at a version) | "
        + j.get("trainedRecordBytes").asLong() + " |"), cli.out());
  }
}
