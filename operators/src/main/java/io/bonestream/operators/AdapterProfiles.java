package io.bonestream.operators;

import io.bonestream.engine.BonestreamException;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The profile of every adapter: overrides matched by adapter id (exact, or a glob with {@code *}
 * and {@code ?}), in order, first match wins; the default profile for the rest. A new adapter starts
 * from its profile on its first record.
 */
public final class AdapterProfiles implements Serializable {
  /** One override: a pattern and the profile of the ids it matches. */
  public record Override(String pattern, AdapterProfile profile) implements Serializable {
    boolean matches(String id) {
      StringBuilder re = new StringBuilder();
      for (char c : pattern.toCharArray()) {
        re.append(switch (c) {
          case '*' -> ".*";
          case '?' -> ".";
          default -> Pattern.quote(String.valueOf(c));
        });
      }
      return id.matches(re.toString());
    }
  }

  private final AdapterProfile defaults;
  private final List<Override> overrides;

  public AdapterProfiles(AdapterProfile defaults, List<Override> overrides) {
    this.defaults = defaults;
    this.overrides = List.copyOf(overrides);
  }

  public static AdapterProfiles of(AdapterProfile defaults) {
    return new AdapterProfiles(defaults, List.of());
  }

  public AdapterProfile forAdapter(String id) {
    for (Override o : overrides) {
      if (o.matches(id)) {
        return o.profile();
      }
    }
    return defaults;
  }

  public AdapterProfile defaults() {
    return defaults;
  }

  public List<Override> overrides() {
    return overrides;
  }

  /** Checks every profile against the model before the job starts, naming the bad one. */
  public void validate(BaseModel model) {
    List<AdapterProfile> all = new ArrayList<>();
    all.add(defaults);
    overrides.forEach(o -> all.add(o.profile()));
    for (int i = 0; i < all.size(); i++) {
      try {
        AdapterSet.validate(model, all.get(i).adapter());
      } catch (BonestreamException e) {
        throw new BonestreamException((i == 0 ? "default adapter settings"
            : "adapter override '" + overrides.get(i - 1).pattern() + "'") + ": " + e.getMessage());
      }
    }
  }
}
