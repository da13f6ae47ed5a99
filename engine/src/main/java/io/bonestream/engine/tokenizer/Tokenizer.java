package io.bonestream.engine.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import com.fasterxml.jackson.databind.JsonNode;
import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.ModelConfig;
import io.bonestream.core.util.Hashes;
import io.bonestream.core.util.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A Hugging Face {@code tokenizer.json} (through DJL's bindings to the Rust tokenizers library)
 * with the settings of {@code tokenizer_config.json}: whether to add BOS/EOS, the special tokens and
 * the chat template.
 *
 * <p>BOS: when {@code tokenizer_config.json} sets {@code add_bos_token}, that decides; otherwise the
 * tokenizer's own post-processor does (as in Llama 3 and Qwen2 folders).
 */
public final class Tokenizer implements AutoCloseable {
  private final HuggingFaceTokenizer hf;
  private final @Nullable Boolean addBos;
  private final boolean addEos;
  private final int bosId;
  private final int eosId;
  private final String bosToken;
  private final String eosToken;
  private final int vocabSize;
  private final String sha256;
  private final ChatTemplate chatTemplate;
  private final int maxPieceChars;

  private Tokenizer(HuggingFaceTokenizer hf, @Nullable Boolean addBos, boolean addEos, int bosId,
      int eosId, String bosToken, String eosToken, int vocabSize, String sha256,
      @Nullable String template, int maxPieceChars) {
    this.hf = hf;
    this.addBos = addBos;
    this.addEos = addEos;
    this.bosId = bosId;
    this.eosId = eosId;
    this.bosToken = bosToken;
    this.eosToken = eosToken;
    this.vocabSize = vocabSize;
    this.sha256 = sha256;
    this.chatTemplate = ChatTemplate.of(template, bosToken, eosToken);
    this.maxPieceChars = maxPieceChars;
  }

  /**
   * Loads the tokenizer of a model folder and checks it fits the model: every token id must be
   * below the model's vocabulary size.
   */
  public static Tokenizer load(Path modelDir, ModelConfig model) {
    Path file = modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new BonestreamException("no tokenizer.json in model folder " + modelDir);
    }
    JsonNode tok = Json.readTree(file);
    int size = tokenizerVocabSize(tok);
    if (size > model.vocabSize()) {
      throw new BonestreamException("tokenizer " + file + " has " + size + " tokens but the model's "
          + "vocab_size is " + model.vocabSize() + ": they do not belong together");
    }
    Path cfgFile = modelDir.resolve("tokenizer_config.json");
    JsonNode cfg = Files.isRegularFile(cfgFile) ? Json.readTree(cfgFile) : Json.MAPPER.createObjectNode();
    Boolean addBos = cfg.has("add_bos_token") ? cfg.get("add_bos_token").asBoolean() : null;
    boolean addEos = cfg.path("add_eos_token").asBoolean(false);
    String bos = tokenText(cfg.get("bos_token"), "<s>");
    String eos = tokenText(cfg.get("eos_token"), "</s>");
    Map<String, Integer> ids = tokenIds(tok);
    int bosId = ids.getOrDefault(bos, model.bosTokenId());
    int eosId = ids.getOrDefault(eos, model.eosTokenId());
    String template = cfg.path("chat_template").isTextual() ? cfg.get("chat_template").asText() : null;
    HuggingFaceTokenizer hf;
    try {
      hf = HuggingFaceTokenizer.builder().optTokenizerPath(file).optAddSpecialTokens(true)
          .optTruncation(false).optPadding(false).build();
      byte[] bytes = Files.readAllBytes(file);
      String sha = Hashes.sha256Hex(bytes);
      return new Tokenizer(hf, addBos, addEos, bosId, eosId, bos, eos, size, sha, template, maxPieceChars(tok));
    } catch (IOException | RuntimeException e) {
      throw new BonestreamException("cannot load tokenizer " + file + ": " + e.getMessage());
    }
  }

  private static String tokenText(@Nullable JsonNode n, String dflt) {
    if (n == null || n.isNull()) {
      return dflt;
    }
    return n.isObject() ? n.path("content").asText(dflt) : n.asText(dflt);
  }

  /** One more than the largest id of the vocabulary and the added tokens. */
  static int tokenizerVocabSize(JsonNode tok) {
    int max = -1;
    JsonNode vocab = tok.path("model").path("vocab");
    if (vocab.isObject()) {
      for (Iterator<JsonNode> it = vocab.elements(); it.hasNext(); ) {
        max = Math.max(max, it.next().asInt());
      }
    } else if (vocab.isArray()) {
      max = vocab.size() - 1; // Unigram: a list of [piece, score]
    }
    for (JsonNode t : tok.path("added_tokens")) {
      max = Math.max(max, t.path("id").asInt());
    }
    return max + 1;
  }

  /** The longest piece of the vocabulary (a map or Unigram's list of [piece, score]) and added tokens. */
  static int maxPieceChars(JsonNode tok) {
    java.util.List<String> pieces = new java.util.ArrayList<>();
    JsonNode vocab = tok.path("model").path("vocab");
    if (vocab.isObject()) {
      vocab.fieldNames().forEachRemaining(pieces::add);
    } else if (vocab.isArray()) {
      vocab.forEach(p -> pieces.add(p.path(0).asText("")));
    }
    tok.path("added_tokens").forEach(t -> pieces.add(t.path("content").asText("")));
    int max = 1;
    for (String p : pieces) {
      max = Math.max(max, p.codePointCount(0, p.length()));
    }
    return max;
  }

  private static Map<String, Integer> tokenIds(JsonNode tok) {
    Map<String, Integer> ids = new java.util.HashMap<>();
    JsonNode vocab = tok.path("model").path("vocab");
    if (vocab.isObject()) {
      vocab.fields().forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asInt()));
    }
    for (JsonNode t : tok.path("added_tokens")) {
      ids.put(t.path("content").asText(), t.path("id").asInt());
    }
    return ids;
  }

  /** Tokens of a text as a sequence start: BOS (if this tokenizer adds one) then the text. */
  public int[] encode(String text) {
    if (addBos == null) {
      int[] ids = toInts(hf.encode(text, true, false));
      return addEos ? append(ids, eosId) : ids;
    }
    int[] ids = encodePlain(text);
    if (addBos) {
      int[] out = new int[ids.length + 1];
      out[0] = bosId;
      System.arraycopy(ids, 0, out, 1, ids.length);
      ids = out;
    }
    return addEos ? append(ids, eosId) : ids;
  }

  /** Tokens of a text without any special token added (special tokens in the text still count). */
  public int[] encodePlain(String text) {
    return toInts(hf.encode(text, false, false));
  }

  /**
   * {@link #encodePlain} with each token's place in the text: {@code [starts[i], ends[i])} in code
   * points (Unicode characters, as Hugging Face's {@code offset_mapping}). Normalization can leave a
   * token a place that is empty or shared with its neighbours (a prepended ▁, byte-fallback pieces
   * of one character).
   */
  public Spans encodePlainWithSpans(String text) {
    Encoding e = hf.encode(text, false, false);
    CharSpan[] spans = e.getCharTokenSpans();
    int[] ids = toInts(e);
    int[] starts = new int[ids.length];
    int[] ends = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      starts[i] = spans[i] == null ? -1 : spans[i].getStart();
      ends[i] = spans[i] == null ? -1 : spans[i].getEnd();
    }
    return new Spans(ids, starts, ends);
  }

  /** Token ids and each token's {@code [start, end)} in code points of the text (−1 if none). */
  public record Spans(int[] ids, int[] starts, int[] ends) {}

  /** Whether {@link #encode} starts a sequence with BOS. */
  public boolean addsBos() {
    if (addBos != null) {
      return addBos;
    }
    int[] probe = toInts(hf.encode("a", true, false));
    return probe.length > 0 && probe[0] == bosId;
  }

  /** Text of ids, special tokens left out. */
  public String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return hf.decode(l, true);
  }

  private static int[] toInts(Encoding e) {
    long[] l = e.getIds();
    int[] out = new int[l.length];
    for (int i = 0; i < l.length; i++) {
      out[i] = (int) l[i];
    }
    return out;
  }

  private static int[] append(int[] ids, int id) {
    int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = id;
    return out;
  }

  /**
   * The most characters one token stands for (the longest vocabulary entry): a text of n
   * {@linkplain #visibleChars visible characters} has at least n / maxPieceChars tokens, which
   * bounds a prompt before it is tokenized.
   */
  public int maxPieceChars() {
    return maxPieceChars;
  }

  /**
   * The characters of a text that a tokenizer cannot drop: not whitespace (normalizers collapse or
   * strip it), not control or format characters.
   */
  public static long visibleChars(String text) {
    return text.codePoints().filter(c -> !Character.isWhitespace(c) && !Character.isSpaceChar(c)
        && Character.getType(c) != Character.CONTROL && Character.getType(c) != Character.FORMAT).count();
  }

  public int bosId() {
    return bosId;
  }

  public int eosId() {
    return eosId;
  }

  public String bosToken() {
    return bosToken;
  }

  public String eosToken() {
    return eosToken;
  }

  public int vocabSize() {
    return vocabSize;
  }

  /** SHA-256 (hex) of {@code tokenizer.json}. */
  public String sha256() {
    return sha256;
  }

  public ChatTemplate chatTemplate() {
    return chatTemplate;
  }

  @Override
  public void close() {
    hf.close();
  }
}
