package io.bonestream.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokenization against ids made by the original SentencePiece model. */
class TokenizerGoldenTest {
  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static void checkFile(String name) throws Exception {
    Path dir = TestFiles.stories260K();
    try (Tokenizer tok = Tokenizer.load(dir, ModelConfig.read(dir))) {
      List<String> lines = Files.readAllLines(dir.resolve("golden").resolve(name));
      assertTrue(lines.size() > 5);
      for (String line : lines) {
        JsonNode n = Json.MAPPER.readTree(line);
        assertArrayEquals(ints(n.get("ids")), tok.encode(n.get("text").asText()), n.get("text").asText());
      }
    }
  }

  @Test
  void matchesSentencePieceOnTheGoldenTexts() throws Exception {
    checkFile("tokenize.jsonl");
  }

  @Test
  void matchesSentencePieceOnTwoThousandMixedTexts() throws Exception {
    checkFile("tokenize_many.jsonl");
  }

  @Test
  void noTokenStandsForMoreVisibleCharactersThanTheLongestPiece() throws Exception {
    // the inference server refuses a prompt on its length when even tokens of maxPieceChars could
    // not bring it under the cap: that is only sound if no text ever has fewer tokens
    Path dir = TestFiles.stories260K();
    try (Tokenizer tok = Tokenizer.load(dir, ModelConfig.read(dir))) {
      int max = tok.maxPieceChars();
      assertTrue(max > 1 && max < 64, "longest piece " + max);
      List<String> texts = new java.util.ArrayList<>();
      for (String line : Files.readAllLines(dir.resolve("golden").resolve("tokenize_many.jsonl"))) {
        texts.add(Json.MAPPER.readTree(line).get("text").asText());
      }
      texts.add(" ".repeat(5000));
      texts.add("the the the the".repeat(300));
      texts.add("\u00e9\u4e2d\ud83d\ude00".repeat(200));
      texts.add("\u0000\u0001\u0007\u200b\ufeff".repeat(100));
      for (String t : texts) {
        long chars = Tokenizer.visibleChars(t);
        assertTrue((long) tok.encodePlain(t).length * max >= chars, "fewer tokens than " + chars + " / " + max + ": " + t);
      }
    }
  }

  @Test
  void longTextsAreNotTruncated() {
    Path dir = TestFiles.stories260K();
    try (Tokenizer tok = Tokenizer.load(dir, ModelConfig.read(dir))) {
      String text = "Once upon a time, there was a little girl named Lily. ".repeat(100);
      int[] once = tok.encodePlain("Once upon a time, there was a little girl named Lily.");
      assertTrue(tok.encode(text).length > 100 * once.length, "long input was cut");
      assertEquals("Once upon a time, there was a little girl named Lily.", tok.decode(tok.encode(
          "Once upon a time, there was a little girl named Lily.")));
    }
  }

  @Test
  void refusesATokenizerLargerThanTheModelVocabulary(@TempDir Path tmp) throws Exception {
    Path dir = TestFiles.stories260K();
    ObjectNode cfg = (ObjectNode) Json.readTree(dir.resolve("config.json"));
    cfg.put("vocab_size", 256);
    ModelConfig small = ModelConfig.fromJson(cfg, "test");
    BonestreamException e = assertThrows(BonestreamException.class, () -> Tokenizer.load(dir, small));
    assertTrue(e.getMessage().contains("512 tokens") && e.getMessage().contains("256"), e.getMessage());
  }
}
