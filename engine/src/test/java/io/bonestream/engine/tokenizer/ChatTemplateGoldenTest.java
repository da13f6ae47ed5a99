package io.bonestream.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.Example;
import io.bonestream.engine.data.ExampleEncoder;
import io.bonestream.engine.data.InvalidExampleException;
import io.bonestream.engine.model.TokenBatch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Chat templates rendered and tokenized as Hugging Face transformers' {@code apply_chat_template}
 * does: {@code chat-templates/golden.json} was made by transformers (make_goldens.py next to it)
 * on the stories260K tokenizer with Meta-Llama-3-8B-Instruct's, Qwen2-Instruct's (ChatML) and
 * zephyr's templates, an indented ChatML that needs trim_blocks and lstrip_blocks, and
 * features.jinja (namespace, loop controls, raise_exception, strftime_now, tojson, generation).
 */
class ChatTemplateGoldenTest {
  private static JsonNode golden;
  private static Tokenizer tok;
  private static Map<String, Tokenizer> withTemplate = new HashMap<>();

  @TempDir static Path tmp;

  @BeforeAll
  static void load() throws IOException {
    golden = Json.readTree(TestFiles.chatTemplates().resolve("golden.json"));
    tok = Tokenizer.load(TestFiles.stories260K(), ModelConfig.read(TestFiles.stories260K()));
  }

  @AfterAll
  static void close() {
    tok.close();
    withTemplate.values().forEach(Tokenizer::close);
  }

  private static String template(String name) {
    try {
      return Files.readString(TestFiles.chatTemplates().resolve(name + ".jinja"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The model folder's tokenizer with this template as its tokenizer_config.json's chat_template. */
  private static Tokenizer tokenizerWith(String name) {
    return withTemplate.computeIfAbsent(name, n -> {
      try {
        Path dir = Files.createDirectories(tmp.resolve(n));
        Files.copy(TestFiles.stories260K().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        ObjectNode cfg = (ObjectNode) Json.readTree(TestFiles.stories260K().resolve("tokenizer_config.json"));
        cfg.put("chat_template", template(n));
        Files.writeString(dir.resolve("tokenizer_config.json"), Json.MAPPER.writeValueAsString(cfg));
        return Tokenizer.load(dir, ModelConfig.read(TestFiles.stories260K()));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  private static List<ChatMessage> messages(JsonNode c) {
    List<ChatMessage> out = new ArrayList<>();
    c.get("messages").forEach(m -> out.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
    return out;
  }

  private static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  private static String name(JsonNode c) {
    return c.get("template").asText() + " / " + c.get("conversation").asText()
        + (c.get("add_generation_prompt").asBoolean() ? " + generation prompt" : "");
  }

  /** The cases transformers rendered (not those its template refused). */
  private static Stream<JsonNode> cases() {
    return allCases().filter(c -> !c.has("error"));
  }

  private static Stream<JsonNode> allCases() {
    List<JsonNode> out = new ArrayList<>();
    golden.get("cases").forEach(out::add);
    return out.stream();
  }

  @Test
  void theGoldenCoversTheTemplatesAndConversations() {
    assertEquals(List.of("llama3", "qwen2", "zephyr", "chatml-indented", "features"),
        cases().map(c -> c.get("template").asText()).distinct().toList());
    assertTrue(cases().count() >= 60, "cases: " + cases().count());
    assertTrue(cases().filter(c -> c.get("add_generation_prompt").asBoolean()).count() >= 15);
    assertTrue(cases().filter(c -> c.has("target_mask")).count() >= 30);
    assertEquals(2, allCases().filter(c -> c.has("error")).count());
    assertEquals(1, cases().filter(c -> c.has("prefix_property")).count());
    assertEquals(tok.bosToken(), golden.get("bos_token").asText());
    assertEquals(tok.eosToken(), golden.get("eos_token").asText());
  }

  /** The text Jinjava renders is transformers' text, character for character. */
  @TestFactory
  Stream<DynamicTest> rendersTheTextTransformersRenders() {
    return cases().map(c -> DynamicTest.dynamicTest(name(c), () -> {
      ChatTemplate t = ChatTemplate.ofJinja(template(c.get("template").asText()),
          golden.get("bos_token").asText(), golden.get("eos_token").asText());
      String expected = c.get("text").asText();
      String got = t.render(messages(c), c.get("add_generation_prompt").asBoolean());
      assertEquals(expected, got, () -> name(c) + ": " + firstDifference(expected, got));
    }));
  }

  /** Where two texts part, with escapes, for a readable failure. */
  static String firstDifference(String expected, String got) {
    int i = 0;
    while (i < expected.length() && i < got.length() && expected.charAt(i) == got.charAt(i)) {
      i++;
    }
    int from = Math.max(0, i - 30);
    return "texts differ at char " + i + ": expected …" + escape(expected.substring(from, Math.min(expected.length(), i + 30)))
        + "… but got …" + escape(got.substring(from, Math.min(got.length(), i + 30))) + "…";
  }

  private static String escape(String s) {
    StringBuilder sb = new StringBuilder();
    s.codePoints().forEach(cp -> sb.append(cp == '\n' ? "\\n" : cp < 0x20 || (cp > 0x7e && cp < 0xa1) || cp == 0x3000
        ? String.format("\\u%04x", cp) : new String(Character.toChars(cp))));
    return sb.toString();
  }

  /** tojson writes a float as Python's repr does. */
  @Test
  void floatsAreWrittenAsPythonWritesThem() {
    JsonNode floats = golden.get("float_repr");
    assertTrue(floats.size() > 10);
    for (JsonNode f : floats) {
      assertEquals(f.get(1).asText(), JinjaCompat.pythonFloat(f.get(0).asDouble()), f.toString());
    }
  }

  /** What transformers' template refuses (raise_exception), Jinjava refuses with the same message. */
  @TestFactory
  Stream<DynamicTest> refusesWhatTransformersRefuses() {
    return allCases().filter(c -> c.has("error")).map(c -> DynamicTest.dynamicTest(name(c), () -> {
      ChatTemplate t = ChatTemplate.ofJinja(template(c.get("template").asText()),
          golden.get("bos_token").asText(), golden.get("eos_token").asText());
      BonestreamException e = assertThrows(BonestreamException.class, () -> t.render(messages(c), false));
      assertTrue(e.getMessage().contains(c.get("error").asText()), e.getMessage());
    }));
  }

  /**
   * The rendered text tokenizes to transformers' ids. apply_chat_template tokenizes with
   * add_special_tokens=False, that is {@link Tokenizer#encodePlain}: a BOS only where the template
   * writes {@code bos_token}.
   */
  @TestFactory
  Stream<DynamicTest> tokenizesToTheIdsTransformersGives() {
    return cases().map(c -> DynamicTest.dynamicTest(name(c), () -> {
      Tokenizer t = tokenizerWith(c.get("template").asText());
      assertFalse(t.chatTemplate().isPlain(), "the template fell back to the plain one");
      String text = t.chatTemplate().render(messages(c), c.get("add_generation_prompt").asBoolean());
      assertArrayEquals(ints(c.get("ids")), t.encodePlain(text), name(c));
    }));
  }

  /**
   * Training examples of the conversations that end with an answer: the ids are transformers' ids
   * of the whole conversation (with BOS first: this tokenizer's {@code add_bos_token}), and the
   * targets are exactly the tokens that overlap the assistant turns' spans (content and end of
   * turn) that the golden locates in transformers' text, never a header.
   */
  /** A conversation that does not render turn by turn as prefixes is refused as a training example. */
  @TestFactory
  Stream<DynamicTest> chatExamplesRefuseATemplateThatIsNotTurnByTurn() {
    return cases().filter(c -> c.has("prefix_property")).map(c -> DynamicTest.dynamicTest(name(c), () -> {
      Tokenizer t = tokenizerWith(c.get("template").asText());
      InvalidExampleException e = assertThrows(InvalidExampleException.class,
          () -> new ExampleEncoder(t, 4096, t.vocabSize()).chat(messages(c)));
      assertEquals(InvalidExampleException.Reason.TEMPLATE_ERROR, e.reason());
    }));
  }

  @TestFactory
  Stream<DynamicTest> chatExamplesPutTheTargetsOnTheAnswers() {
    return cases().filter(c -> c.has("target_mask")).map(c -> DynamicTest.dynamicTest(name(c), () -> {
      Tokenizer t = tokenizerWith(c.get("template").asText());
      int[] hfIds = ints(c.get("ids"));
      int[] mask = ints(c.get("target_mask"));
      boolean bos = hfIds[0] != t.bosId();
      int n = hfIds.length + (bos ? 1 : 0);
      int[] ids = new int[n];
      int[] labels = new int[n];
      if (bos) {
        ids[0] = t.bosId();
        labels[0] = TokenBatch.IGNORE;
      }
      for (int i = 0; i < hfIds.length; i++) {
        ids[i + (bos ? 1 : 0)] = hfIds[i];
        labels[i + (bos ? 1 : 0)] = mask[i] == 1 ? hfIds[i] : TokenBatch.IGNORE;
      }
      Example e = new ExampleEncoder(t, 4096, t.vocabSize()).chat(messages(c));
      assertArrayEquals(ids, e.inputIds(), name(c) + ": input ids");
      assertArrayEquals(labels, e.labels(), name(c) + ": labels");
      // the golden's spans are the answers: each begins with the answer's text
      String text = c.get("text").asText();
      List<String> answers = messages(c).stream().filter(ChatMessage::isAssistant).map(ChatMessage::content).toList();
      JsonNode spans = c.get("target_spans");
      assertEquals(answers.size(), spans.size());
      for (int k = 0; k < spans.size(); k++) {
        String target = text.substring(text.offsetByCodePoints(0, spans.get(k).get(0).asInt()),
            text.offsetByCodePoints(0, spans.get(k).get(1).asInt()));
        assertEquals(c.get("target_texts").get(k).asText(), target);
        String blank = "[\\s\u00a0\u3000]+";
        String answer = answers.get(k).replaceAll(blank, "");
        assertTrue(target.replaceAll(blank, "").startsWith(answer.substring(0, Math.min(4, answer.length()))), target);
      }
    }));
  }
}
