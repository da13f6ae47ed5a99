package io.bonestream.engine.data;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.data.InvalidExampleException.Reason;
import io.bonestream.engine.model.TokenBatch;
import io.bonestream.engine.tokenizer.ChatMessage;
import io.bonestream.engine.tokenizer.ChatTemplate;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Turns records into training examples.
 *
 * <ul>
 *   <li>Text: {@code <s> + prompt + response + </s>}, the loss on the response and {@code </s>}
 *       (the prompt and the response are tokenized separately; a system text, if any, goes before
 *       the prompt with a blank line between).
 *   <li>Chat: the conversation rendered by the chat template and tokenized as one text (as
 *       transformers' {@code apply_chat_template} and inference do); the loss on the tokens of each
 *       assistant turn's content and its end-of-turn text (what the template renders for the turn
 *       after the generation prompt), never on the assistant header.
 *   <li>Text: {@code <s> + text + </s>}, every token a target (continued pre-training).
 *   <li>Tokens: input ids and labels as given (−100 = not a target).
 * </ul>
 *
 * Sequences longer than {@code maxSeqLen} lose tokens from the left, just after BOS; a record is
 * refused if no target token would remain.
 */
public final class ExampleEncoder {
  private final Tokenizer tokenizer;
  private final int maxSeqLen;
  private final int vocabSize;

  public ExampleEncoder(Tokenizer tokenizer, int maxSeqLen, int vocabSize) {
    this.tokenizer = tokenizer;
    this.maxSeqLen = maxSeqLen;
    this.vocabSize = vocabSize;
  }

  public Tokenizer tokenizer() {
    return tokenizer;
  }

  public Example promptResponse(@Nullable String system, String prompt, String response) {
    String fullPrompt = system == null || system.isEmpty() ? prompt : system + "\n\n" + prompt;
    int[] p = tokenizer.encode(fullPrompt);
    int[] r = tokenizer.encodePlain(response);
    if (r.length == 0) {
      throw new InvalidExampleException(Reason.EMPTY_RESPONSE, "the response tokenizes to no tokens");
    }
    int n = p.length + r.length + 1;
    int[] ids = new int[n];
    int[] labels = new int[n];
    Arrays.fill(labels, 0, p.length, TokenBatch.IGNORE);
    System.arraycopy(p, 0, ids, 0, p.length);
    System.arraycopy(r, 0, ids, p.length, r.length);
    System.arraycopy(r, 0, labels, p.length, r.length);
    ids[n - 1] = tokenizer.eosId();
    labels[n - 1] = tokenizer.eosId();
    return truncate(ids, labels);
  }

  /**
   * Plain text for continued pre-training: {@code <s> + text + </s>} (BOS if the tokenizer adds
   * one), every token after BOS a target, the end of the document too.
   */
  public Example text(String text) {
    int[] t = tokenizer.encodePlain(text);
    if (t.length == 0) {
      throw new InvalidExampleException(Reason.EMPTY_RESPONSE, "the text tokenizes to no tokens");
    }
    int bos = tokenizer.addsBos() ? 1 : 0;
    int[] ids = new int[bos + t.length + 1];
    if (bos == 1) {
      ids[0] = tokenizer.bosId();
    }
    System.arraycopy(t, 0, ids, bos, t.length);
    ids[ids.length - 1] = tokenizer.eosId();
    int[] labels = ids.clone();
    if (bos == 1) {
      labels[0] = TokenBatch.IGNORE;
    }
    return truncate(ids, labels);
  }

  /** A conversation; the loss covers the assistant turns. */
  public Example chat(List<ChatMessage> messages) {
    if (messages.isEmpty()) {
      throw new InvalidExampleException(Reason.MISSING_FIELD, "the conversation has no messages");
    }
    if (messages.stream().noneMatch(ChatMessage::isAssistant)) {
      throw new InvalidExampleException(Reason.EMPTY_RESPONSE, "the conversation has no assistant turn");
    }
    ChatTemplate template = tokenizer.chatTemplate();
    // the conversation's text, and where each answer's targets lie in it (code points): from the
    // end of the conversation before it with the generation prompt to the end of its own turn
    String done = "";
    List<int[]> answers = new ArrayList<>();
    try {
      for (int i = 0; i < messages.size(); i++) {
        String full = template.render(messages.subList(0, i + 1), false);
        if (messages.get(i).isAssistant()) {
          String withHeader = template.render(messages.subList(0, i), true);
          suffix(done, withHeader);
          suffix(withHeader, full);
          answers.add(new int[] {full.codePointCount(0, withHeader.length()),
              full.codePointCount(0, full.length())});
        } else {
          suffix(done, full);
        }
        done = full;
      }
    } catch (InvalidExampleException e) {
      throw e;
    } catch (BonestreamException e) {
      throw new InvalidExampleException(Reason.TEMPLATE_ERROR, e.getMessage());
    }
    // tokenized at once, as the whole text is at inference and by transformers'
    // apply_chat_template; a token is a target where it overlaps an answer
    Tokenizer.Spans tokens = tokenizer.encodePlainWithSpans(done);
    List<Integer> ids = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    boolean[] answered = new boolean[answers.size()];
    for (int t = 0; t < tokens.ids().length; t++) {
      boolean target = false;
      for (int k = 0; k < answers.size(); k++) {
        if (overlaps(tokens.starts()[t], tokens.ends()[t], answers.get(k))) {
          target = true;
          answered[k] = true;
        }
      }
      ids.add(tokens.ids()[t]);
      labels.add(target ? tokens.ids()[t] : TokenBatch.IGNORE);
    }
    for (int k = 0; k < answered.length; k++) {
      if (!answered[k]) {
        throw new InvalidExampleException(Reason.EMPTY_RESPONSE,
            "assistant turn " + (k + 1) + " tokenizes to no tokens");
      }
    }
    if (tokenizer.addsBos() && (ids.isEmpty() || ids.get(0) != tokenizer.bosId())) {
      ids.add(0, tokenizer.bosId());
      labels.add(0, TokenBatch.IGNORE);
    }
    return truncate(ids.stream().mapToInt(Integer::intValue).toArray(),
        labels.stream().mapToInt(Integer::intValue).toArray());
  }

  /** Whether a token at {@code [start, end)} overlaps a span; an empty token, whether it lies in it. */
  static boolean overlaps(int start, int end, int[] span) {
    if (start < 0) {
      return false;
    }
    return start == end ? span[0] <= start && start < span[1] : start < span[1] && span[0] < end;
  }

  private static String suffix(String prefix, String full) {
    if (!full.startsWith(prefix)) {
      throw new InvalidExampleException(Reason.TEMPLATE_ERROR,
          "the chat template does not render a conversation as a prefix of its continuation");
    }
    return full.substring(prefix.length());
  }

  /** Pre-tokenized input: ids and labels (−100 = not a target), checked against the vocabulary. */
  public Example tokens(int[] inputIds, int[] labels) {
    if (inputIds.length != labels.length) {
      throw new InvalidExampleException(Reason.INVALID_TOKENS, "input_ids has " + inputIds.length
          + " tokens but labels has " + labels.length);
    }
    if (inputIds.length == 0) {
      throw new InvalidExampleException(Reason.INVALID_TOKENS, "input_ids is empty");
    }
    for (int i = 0; i < inputIds.length; i++) {
      if (inputIds[i] < 0 || inputIds[i] >= vocabSize) {
        throw new InvalidExampleException(Reason.INVALID_TOKENS, "input_ids[" + i + "] = "
            + inputIds[i] + " is outside the vocabulary [0, " + vocabSize + ")");
      }
      if (labels[i] != TokenBatch.IGNORE && (labels[i] < 0 || labels[i] >= vocabSize)) {
        throw new InvalidExampleException(Reason.INVALID_TOKENS, "labels[" + i + "] = " + labels[i]
            + " is neither -100 nor a token id");
      }
    }
    if (Example.targetCount(labels) == 0) {
      throw new InvalidExampleException(Reason.EMPTY_RESPONSE,
          "no label after the first position is a target (all -100)");
    }
    return truncate(inputIds, labels);
  }

  /** Keeps the first token if it is BOS and the last {@code maxSeqLen − 1} (or {@code maxSeqLen}). */
  private Example truncate(int[] ids, int[] labels) {
    if (ids.length > maxSeqLen) {
      boolean keepBos = ids[0] == tokenizer.bosId();
      int keep = keepBos ? maxSeqLen - 1 : maxSeqLen;
      int from = ids.length - keep;
      int[] ni = new int[maxSeqLen];
      int[] nl = new int[maxSeqLen];
      int at = 0;
      if (keepBos) {
        ni[0] = ids[0];
        nl[0] = labels[0];
        at = 1;
      }
      System.arraycopy(ids, from, ni, at, keep);
      System.arraycopy(labels, from, nl, at, keep);
      if (Example.targetCount(nl) == 0) {
        throw new InvalidExampleException(Reason.NO_TARGET_AFTER_TRUNCATION, "no target token is left "
            + "after truncating " + ids.length + " tokens to max-seq-len " + maxSeqLen);
      }
      ids = ni;
      labels = nl;
    }
    return new Example(ids, labels);
  }
}
