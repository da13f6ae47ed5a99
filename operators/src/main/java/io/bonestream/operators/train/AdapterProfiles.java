package io.bonestream.operators.train;

import io.bonestream.core.BonestreamException;
import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * The profile of every adapter: overrides matched by adapter id (exact, or a glob with {@code *}
 * and {@code ?}), in order, first match wins; the default profile for the rest. A new adapter starts
 * from its profile on its first record.
 */
public final class AdapterProfiles implements Serializable {
  /** One override: a pattern and the profile of the ids it matches. */
  public record Override(String pattern, AdapterProfile profile) implements Serializable {
    /**
     * Whether {@code id} matches the glob: {@code *} any run of characters, {@code ?} one, every
     * other character itself. Called for every record, so without building a regex: on a mismatch
     * after a {@code *}, the star takes one more character and the match goes on from there.
     */
    boolean matches(String id) {
      int p = 0;
      int i = 0;
      int star = -1; // the last * seen in the pattern, and where in id its run ends now
      int starEnd = 0;
      while (i < id.length()) {
        if (p < pattern.length() && (pattern.charAt(p) == '?' || pattern.charAt(p) == id.charAt(i))) {
          p++;
          i++;
        } else if (p < pattern.length() && pattern.charAt(p) == '*') {
          star = p++;
          starEnd = i;
        } else if (star >= 0) {
          p = star + 1;
          i = ++starEnd;
        } else {
          return false;
        }
      }
      while (p < pattern.length() && pattern.charAt(p) == '*') {
        p++;
      }
      return p == pattern.length();
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
