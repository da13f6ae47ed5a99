package io.bonestream.engine.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Json;
import io.bonestream.engine.TestFiles;
import io.bonestream.engine.data.InvalidExampleException.Reason;
import io.bonestream.engine.data.RecordParser.MessageNames;
import io.bonestream.engine.data.RecordParser.Options;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every JSON shape the job reads: each valid form against the form it is defined as (a ShareGPT
 * record is the chat it names, prompt/completion is prompt/response, text is BOS + text + EOS all
 * targets), and each malformed variant against its reason.
 */
class RecordShapesTest {
  private static Tokenizer tok;
  private static ExampleEncoder encoder;

  @BeforeAll
  static void load() {
    tok = Tokenizer.load(TestFiles.stories260K(), ModelConfig.read(TestFiles.stories260K()));
    encoder = new ExampleEncoder(tok, 512, 512);
  }

  @AfterAll
  static void close() {
    tok.close();
  }

  private static JsonNode json(String s) throws Exception {
    return Json.MAPPER.readTree(s);
  }

  private static Instruction read(String s) throws Exception {
    return RecordParser.read(json(s), Options.DEFAULT);
  }

  private static Instruction read(String s, Options o) throws Exception {
    return RecordParser.read(json(s), o);
  }

  private static Reason refusal(String s) {
    return refusal(s, Options.DEFAULT);
  }

  private static Reason refusal(String s, Options o) {
    return assertThrows(InvalidExampleException.class, () -> read(s, o).encode(encoder)).reason();
  }

  private static final List<ChatMessage> CHAT = List.of(new ChatMessage("system", "Be brief."),
      new ChatMessage("user", "Hi there"), new ChatMessage("assistant", "Hello Lily"));

  @Test
  void openAiChatIsTheConversationItNames() throws Exception {
    Instruction i = read("{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
        + "{\"role\": \"user\", \"content\": \"Hi there\"}, {\"role\": \"assistant\", \"content\": \"Hello Lily\"}]}");
    assertEquals(new Instruction.Chat(CHAT), i);
    // content parts of type text are joined; developer is the system message
    assertEquals(new Instruction.Chat(CHAT), read("{\"messages\": [{\"role\": \"developer\", \"content\": \"Be brief.\"},"
        + "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi \"}, {\"type\": \"text\", \"text\": \"there\"}]},"
        + "{\"role\": \"assistant\", \"content\": \"Hello Lily\"}], \"tools\": []}"));
  }

  @Test
  void openAiChatRefusesToolsImagesAndUnmappedNames() {
    String user = "{\"role\": \"user\", \"content\": \"Hi\"}";
    String answer = "{\"role\": \"assistant\", \"content\": \"Hello\"}";
    assertEquals(Reason.UNSUPPORTED_CONTENT, refusal("{\"messages\": [" + user + "," + answer + "], "
        + "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}"));
    assertEquals(Reason.UNSUPPORTED_CONTENT, refusal("{\"messages\": [" + user + ", {\"role\": \"assistant\", "
        + "\"content\": null, \"tool_calls\": [{\"id\": \"1\"}]}]}"));
    assertEquals(Reason.UNSUPPORTED_CONTENT, refusal("{\"messages\": [" + user + ", {\"role\": \"tool\", "
        + "\"content\": \"42\"}," + answer + "]}"));
    assertEquals(Reason.UNSUPPORTED_CONTENT, refusal("{\"messages\": [{\"role\": \"user\", \"content\": "
        + "[{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}," + answer + "]}"));
    String named = "{\"messages\": [{\"role\": \"user\", \"name\": \"ann\", \"content\": \"Hi\"}," + answer + "]}";
    assertEquals(Reason.UNSUPPORTED_CONTENT, refusal(named));
    assertEquals(Reason.UNKNOWN_ROLE, refusal("{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": [{\"role\": \"user\"}]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": [{\"role\": \"user\", \"content\": 7}]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": {\"role\": \"user\"}}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": [\"hi\"]}"));
    assertEquals(Reason.EMPTY_RESPONSE, refusal("{\"messages\": [" + user + "]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": []}"));
  }

  @Test
  void aMessageNameIsDroppedOrPrefixedOnlyWhenAsked() throws Exception {
    String named = "{\"messages\": [{\"role\": \"user\", \"name\": \"ann\", \"content\": \"Hi\"},"
        + "{\"role\": \"assistant\", \"content\": \"Hello\"}]}";
    Options drop = new Options(RecordShape.AUTO, FieldNames.DEFAULT, MessageNames.DROP);
    Options prefix = new Options(RecordShape.AUTO, FieldNames.DEFAULT, MessageNames.PREFIX);
    assertEquals(new Instruction.Chat(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello"))),
        read(named, drop));
    assertEquals(new Instruction.Chat(List.of(new ChatMessage("user", "ann: Hi"),
        new ChatMessage("assistant", "Hello"))), read(named, prefix));
  }

  @Test
  void shareGptIsTheChatItNames() throws Exception {
    Instruction i = read("{\"system\": \"Be brief.\", \"conversations\": [{\"from\": \"human\", \"value\": \"Hi there\"},"
        + "{\"from\": \"gpt\", \"value\": \"Hello Lily\"}]}");
    assertEquals(new Instruction.Chat(CHAT), i);
    Example a = i.encode(encoder);
    Example b = encoder.chat(CHAT);
    assertArrayEquals(b.inputIds(), a.inputIds());
    assertArrayEquals(b.labels(), a.labels());
    assertEquals(Reason.UNKNOWN_ROLE, refusal("{\"conversations\": [{\"from\": \"observation\", \"value\": \"x\"}]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"conversations\": [{\"from\": \"human\"}]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"conversations\": [{\"value\": \"x\"}]}"));
    assertEquals(Reason.EMPTY_RESPONSE, refusal("{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"}]}"));
  }

  @Test
  void alpacaPromptCompletionAndPromptResponseAreOnePromptAndItsAnswer() throws Exception {
    Instruction pr = read("{\"prompt\": \"Name the color.\", \"response\": \"Blue.\"}");
    assertEquals(new Instruction.PromptResponse(null, "Name the color.", "Blue."), pr);
    assertEquals(pr, read("{\"prompt\": \"Name the color.\", \"completion\": \"Blue.\"}"));
    assertEquals(pr, read("{\"instruction\": \"Name the color.\", \"output\": \"Blue.\"}"));
    assertEquals(new Instruction.PromptResponse("Be brief.", "Name the color.\n\nThe sky", "Blue."),
        read("{\"system\": \"Be brief.\", \"instruction\": \"Name the color.\", \"input\": \"The sky\", \"output\": \"Blue.\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"instruction\": \"x\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"instruction\": \"x\", \"input\": 3, \"output\": \"y\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"prompt\": \"x\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"prompt\": \"x\", \"completion\": 5}"));
    assertEquals(Reason.EMPTY_RESPONSE, refusal("{\"prompt\": \"x\", \"completion\": \"\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"prompt\": \"x\", \"response\": \"y\", \"system\": [1]}"));
  }

  @Test
  void textIsBosTextEosWithEveryTokenATarget() throws Exception {
    String text = "Once upon a time there was a cat.";
    Example e = read("{\"text\": \"" + text + "\"}").encode(encoder);
    int[] t = tok.encodePlain(text);
    int[] ids = new int[t.length + 2];
    ids[0] = tok.bosId();
    System.arraycopy(t, 0, ids, 1, t.length);
    ids[ids.length - 1] = tok.eosId();
    assertArrayEquals(ids, e.inputIds());
    assertEquals(-100, e.labels()[0]);
    for (int i = 1; i < ids.length; i++) {
      assertEquals(ids[i], e.labels()[i], "position " + i);
    }
    assertEquals(Reason.EMPTY_RESPONSE, refusal("{\"text\": \"\"}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"text\": {\"a\": 1}}"));
  }

  @Test
  void tokensAreTakenAsGiven() throws Exception {
    assertInstanceOf(Instruction.Tokens.class, read("{\"input_ids\": [1, 5], \"labels\": [-100, 5]}"));
    assertEquals(Reason.INVALID_TOKENS, refusal("{\"input_ids\": [1, 5.5], \"labels\": [-100, 5]}"));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"input_ids\": [1, 5]}"));
  }

  @Test
  void autoDetectsInADocumentedOrderAndAFixedShapeReadsOnlyItsFields() throws Exception {
    // a record with messages is a chat even if it also has a prompt
    assertInstanceOf(Instruction.Chat.class, read("{\"prompt\": \"p\", \"messages\": [{\"role\": \"user\", "
        + "\"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}"));
    assertEquals(RecordShape.TEXT, RecordParser.shapeOf(json("{\"text\": \"t\", \"id\": 3}"), Options.DEFAULT));
    assertEquals(Reason.MISSING_FIELD, refusal("{\"question\": \"q\"}"));
    // fixed to prompt-response, a chat record is missing its prompt
    assertEquals(Reason.MISSING_FIELD, refusal("{\"messages\": []}", Options.DEFAULT.withShape(RecordShape.PROMPT_RESPONSE)));
    assertEquals(Reason.MALFORMED_JSON, refusal("\"just a string\""));
  }

  @Test
  void fieldNamesMapCustomNamesAndDottedPaths() throws Exception {
    Options o = Options.DEFAULT.withFields(FieldNames.of(Map.of("prompt", "question", "response", "payload.answer")));
    assertEquals(new Instruction.PromptResponse(null, "Why?", "Because."),
        read("{\"question\": \"Why?\", \"payload\": {\"answer\": \"Because.\"}}", o));
    Options chat = Options.DEFAULT.withFields(FieldNames.of(Map.of("messages", "turns", "role", "who", "content", "text")));
    assertEquals(new Instruction.Chat(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Yo"))),
        read("{\"turns\": [{\"who\": \"user\", \"text\": \"Hi\"}, {\"who\": \"assistant\", \"text\": \"Yo\"}]}", chat));
    // the error names the record's own field
    InvalidExampleException x = assertThrows(InvalidExampleException.class,
        () -> read("{\"question\": \"Why?\"}", o.withShape(RecordShape.PROMPT_RESPONSE)));
    assertTrue(x.getMessage().contains("payload.answer"), x.getMessage());
    assertThrows(BonestreamException.class, () -> FieldNames.of(Map.of("answer", "x")));
    assertThrows(BonestreamException.class, () -> FieldNames.of(Map.of("prompt", "a..b")));
    assertThrows(BonestreamException.class, () -> RecordShape.fromId("openai"));
  }
}
