package io.bonestream.engine.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.engine.tokenizer.ChatTemplate;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class RecordFormatsTest {
  private static Tokenizer tok;
  private static RecordParser parser;

  @BeforeAll
  static void load() {
    tok = Tokenizer.load(TestFiles.stories260K(), ModelConfig.read(TestFiles.stories260K()));
    parser = new RecordParser(new ExampleEncoder(tok, 512, 512));
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  private static Example parse(String json) throws Exception {
    return parser.parse(Json.MAPPER.readTree(json));
  }

  private static int[] concat(int[]... parts) {
    return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
  }

  @Test
  void promptResponseIsBosPromptResponseEosWithLossOnTheResponse() throws Exception {
    Example e = parse("{\"prompt\": \"What color is the ball?\", \"response\": \"It is red.\"}");
    int[] prompt = tok.encodePlain("What color is the ball?");
    int[] response = tok.encodePlain("It is red.");
    assertArrayEquals(concat(new int[] {1}, prompt, response, new int[] {2}), e.inputIds());
    int[] labels = e.labels();
    for (int i = 0; i <= prompt.length; i++) {
      assertEquals(-100, labels[i]);
    }
    assertArrayEquals(concat(response, new int[] {2}), Arrays.copyOfRange(labels, prompt.length + 1, labels.length));
  }

  @Test
  void alpacaJoinsInstructionAndInput() throws Exception {
    Example a = parse("{\"instruction\": \"Name the color.\", \"input\": \"The sky\", \"output\": \"Blue.\"}");
    Example b = parse("{\"prompt\": \"Name the color.\\n\\nThe sky\", \"response\": \"Blue.\"}");
    assertArrayEquals(b.inputIds(), a.inputIds());
    assertArrayEquals(b.labels(), a.labels());
    Example c = parse("{\"instruction\": \"Name the color.\", \"input\": \"\", \"output\": \"Blue.\"}");
    assertArrayEquals(parse("{\"prompt\": \"Name the color.\", \"response\": \"Blue.\"}").inputIds(), c.inputIds());
  }

  @Test
  void preTokenizedIsTakenAsGivenAndChecked() throws Exception {
    Example e = parse("{\"input_ids\": [1, 5, 6, 7], \"labels\": [-100, -100, 6, 7]}");
    assertArrayEquals(new int[] {1, 5, 6, 7}, e.inputIds());
    assertEquals(2, e.targetCount());
    InvalidExampleException x = assertThrows(InvalidExampleException.class,
        () -> parse("{\"input_ids\": [1, 5000], \"labels\": [-100, 5000]}"));
    assertEquals(InvalidExampleException.Reason.INVALID_TOKENS, x.reason());
    x = assertThrows(InvalidExampleException.class, () -> parse("{\"input_ids\": [1, 5], \"labels\": [-100]}"));
    assertEquals(InvalidExampleException.Reason.INVALID_TOKENS, x.reason());
  }

  @Test
  void chatPutsTheLossOnAssistantTurnsOnly() throws Exception {
    Example e = parse("{\"messages\": [{\"role\": \"system\", \"content\": \"Be kind.\"},"
        + "{\"role\": \"user\", \"content\": \"Hi there\"}, {\"role\": \"assistant\", \"content\": \"Hello Lily\"},"
        + "{\"role\": \"user\", \"content\": \"Bye\"}, {\"role\": \"assistant\", \"content\": \"Bye bye\"}]}");
    assertEquals(1, e.inputIds()[0]);
    // the targets, read back, are the two answers each followed by the end-of-sequence token
    StringBuilder targets = new StringBuilder();
    int eos = 0;
    for (int i = 0; i < e.labels().length; i++) {
      if (e.labels()[i] == 2) {
        eos++;
      } else if (e.labels()[i] != -100) {
        targets.append(tok.decode(new int[] {e.labels()[i]}));
      }
    }
    assertEquals(2, eos);
    assertEquals("HelloLilyByebye", targets.toString().replace(" ", ""));
    assertTrue(tok.decode(e.inputIds()).contains("User: Hi there"), tok.decode(e.inputIds()));
  }

  @Test
  void aJinjaChatTemplateRendersTurnByTurn() {
    String zephyr = "{% for message in messages %}{% if message['role'] == 'user' %}"
        + "{{ '<|user|>\\n' + message['content'] + eos_token }}{% elif message['role'] == 'assistant' %}"
        + "{{ '<|assistant|>\\n' + message['content'] + eos_token }}{% endif %}"
        + "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}";
    ChatTemplate t = ChatTemplate.ofJinja(zephyr, "<s>", "</s>");
    List<ChatMessage> conv = List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello"));
    assertEquals("<|user|>\nHi</s><|assistant|>\nHello</s>", t.render(conv, false));
    assertEquals("<|user|>\nHi</s><|assistant|>", t.render(conv.subList(0, 1), true));
    assertTrue(ChatTemplate.plain("</s>").render(conv, true).endsWith("Assistant:"));
  }

  @Test
  void truncationDropsTheLeftOfThePromptAndKeepsBos() throws Exception {
    RecordParser shortParser = new RecordParser(new ExampleEncoder(tok, 12, 512));
    String prompt = "Once upon a time there was a little girl named Lily who loved the park";
    Example e = shortParser.parse(Json.MAPPER.readTree(
        "{\"prompt\": \"" + prompt + "\", \"response\": \"Yes.\"}"));
    Example full = parse("{\"prompt\": \"" + prompt + "\", \"response\": \"Yes.\"}");
    assertEquals(12, e.length());
    assertEquals(1, e.inputIds()[0]);
    assertArrayEquals(Arrays.copyOfRange(full.inputIds(), full.length() - 11, full.length()),
        Arrays.copyOfRange(e.inputIds(), 1, 12));
    assertEquals(full.targetCount(), e.targetCount());
  }

  @Test
  void refusalsCarryTheirReason() {
    assertEquals(InvalidExampleException.Reason.MISSING_FIELD,
        assertThrows(InvalidExampleException.class, () -> parse("{\"prompt\": \"x\"}")).reason());
    assertEquals(InvalidExampleException.Reason.EMPTY_RESPONSE,
        assertThrows(InvalidExampleException.class, () -> parse("{\"prompt\": \"x\", \"response\": \"\"}")).reason());
    assertEquals(InvalidExampleException.Reason.UNKNOWN_ROLE, assertThrows(InvalidExampleException.class,
        () -> parse("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}")).reason());
    assertEquals(InvalidExampleException.Reason.MALFORMED_JSON,
        assertThrows(InvalidExampleException.class, () -> parse("[1, 2]")).reason());
  }
}
