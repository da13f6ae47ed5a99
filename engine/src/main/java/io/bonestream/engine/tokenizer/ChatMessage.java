package io.bonestream.engine.tokenizer;

import io.bonestream.core.BonestreamException;
import java.util.Set;

/** One turn of a conversation; roles are system, user and assistant. */
public record ChatMessage(String role, String content) {
  public static final Set<String> ROLES = Set.of("system", "user", "assistant");

  public ChatMessage {
    if (!ROLES.contains(role)) {
      throw new BonestreamException("unknown role '" + role + "' (known: system, user, assistant)");
    }
  }

  public boolean isAssistant() {
    return role.equals("assistant");
  }
}
