package io.bonestream.engine.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import io.bonestream.core.BonestreamException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Renders conversations to text: the model's Jinja {@code chat_template} (through Jinjava) when it
 * renders, otherwise a plain template:
 *
 * <pre>
 * System: {content}\n   User: {content}\n   Assistant: {content}{eos}
 * </pre>
 *
 * where a newline opens the turn that follows an answer (so it is not part of the answer), and
 * {@code Assistant:} is the generation prompt.
 */
public final class ChatTemplate {
  private static final Logger LOG = LoggerFactory.getLogger(ChatTemplate.class);

  private final @Nullable String jinja;
  private final String bosToken;
  private final String eosToken;
  private final @Nullable Jinjava engine;

  private ChatTemplate(@Nullable String jinja, String bosToken, String eosToken) {
    this.jinja = jinja == null ? null : withoutTrailingNewline(jinja);
    this.bosToken = bosToken;
    this.eosToken = eosToken;
    this.engine = jinja == null ? null : newEngine();
  }

  /** The model's template if Jinjava renders a probe conversation with it, else the plain one. */
  static ChatTemplate of(@Nullable String jinja, String bosToken, String eosToken) {
    if (jinja != null) {
      ChatTemplate t = new ChatTemplate(jinja, bosToken, eosToken);
      try {
        t.render(List.of(new ChatMessage("user", "hi"), new ChatMessage("assistant", "hello")), false);
        return t;
      } catch (RuntimeException e) {
        LOG.warn("the model's chat_template does not render here ({}); using the plain template",
            e.getMessage());
      }
    }
    return new ChatTemplate(null, bosToken, eosToken);
  }

  /** A template from Jinja source (for tests and custom templates). */
  public static ChatTemplate ofJinja(String jinja, String bosToken, String eosToken) {
    return new ChatTemplate(jinja, bosToken, eosToken);
  }

  public static ChatTemplate plain(String eosToken) {
    return new ChatTemplate(null, "", eosToken);
  }

  public boolean isPlain() {
    return jinja == null;
  }

  /**
   * Jinjava set up as transformers sets up Jinja for {@code apply_chat_template}: {@code trim_blocks}
   * and {@code lstrip_blocks} on (comments included, as in Jinja), no second rendering of rendered
   * text (a message containing <code>{{ }}</code> stays text), {@code raise_exception},
   * {@code strftime_now}, {@code tojson} as transformers defines it, the {@code generation} tag, and
   * {@code trim} with Python's {@code str.strip} (Unicode whitespace, not Java's characters up to
   * U+0020): see {@link JinjaCompat}. Jinja's dropping of one newline at the end of the template
   * source is done on the source (Jinjava's setting for it acts on the output).
   */
  private static Jinjava newEngine() {
    Jinjava j = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
        .withKeepTrailingNewline(true).withNestedInterpretationEnabled(false)
        .withLegacyOverrides(LegacyOverrides.newBuilder().withUseTrimmingForNotesAndExpressions(true)
            .withParseWhitespaceControlStrictly(true).build())
        .build());
    j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
        ChatTemplate.class, "raiseException", String.class));
    j.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
        JinjaCompat.class, "strftimeNow", String.class));
    j.getGlobalContext().registerFilter(new JinjaCompat.Trim());
    j.getGlobalContext().registerFilter(new JinjaCompat.ToJson());
    j.getGlobalContext().registerTag(new JinjaCompat.Generation());
    return j;
  }

  /** Jinja's {@code keep_trailing_newline=False}: one newline at the end of the source goes. */
  static String withoutTrailingNewline(String source) {
    if (source.endsWith("\r\n")) {
      return source.substring(0, source.length() - 2);
    }
    return source.endsWith("\n") || source.endsWith("\r") ? source.substring(0, source.length() - 1) : source;
  }

  /** Called by templates through {@code raise_exception(msg)}. */
  public static String raiseException(String message) {
    throw new BonestreamException("chat template: " + message);
  }

  /** The text of a conversation, with the assistant's generation prompt if asked. */
  public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
    if (engine == null) {
      StringBuilder sb = new StringBuilder();
      boolean afterAssistant = false;
      for (ChatMessage m : messages) {
        sb.append(afterAssistant ? "\n" : ""); // the newline after an answer opens the next turn
        switch (m.role()) {
          case "system" -> sb.append("System: ").append(m.content()).append('\n');
          case "user" -> sb.append("User: ").append(m.content()).append('\n');
          default -> sb.append("Assistant: ").append(m.content()).append(eosToken);
        }
        afterAssistant = m.isAssistant();
      }
      if (addGenerationPrompt) {
        sb.append(afterAssistant ? "\n" : "").append("Assistant:");
      }
      return sb.toString();
    }
    List<Map<String, Object>> msgs = new ArrayList<>();
    for (ChatMessage m : messages) {
      Map<String, Object> msg = new LinkedHashMap<>(); // in order, as Python's dicts (tojson)
      msg.put("role", m.role());
      msg.put("content", m.content());
      msgs.add(msg);
    }
    Map<String, Object> ctx = new HashMap<>();
    ctx.put("messages", msgs);
    ctx.put("bos_token", bosToken);
    ctx.put("eos_token", eosToken);
    ctx.put("add_generation_prompt", addGenerationPrompt);
    RenderResult r = engine.renderForResult(jinja, ctx);
    if (!r.getErrors().isEmpty()) {
      // the template's own raise_exception(message) comes back wrapped: give its message
      for (TemplateError e : r.getErrors()) {
        for (Throwable t = e.getException(); t != null; t = t.getCause()) {
          if (t instanceof BonestreamException b) {
            throw b;
          }
        }
      }
      throw new BonestreamException("chat template: " + r.getErrors().get(0).getMessage());
    }
    return r.getOutput();
  }
}
