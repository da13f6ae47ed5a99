package io.bonestream.core.adapters;

import io.bonestream.core.BonestreamException;
import io.bonestream.core.model.Projection;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;

/**
 * What adapter to train: the method, its r, the target projections (by module name) and, for
 * LoRA, alpha. Immutable; build it with {@link #builder()}.
 */
public record AdapterConfig(AdapterMethod method, int r, List<Projection> targets, double loraAlpha, int miniR)
    implements java.io.Serializable {
  public static final List<Projection> ALL_TARGETS = List.of(Projection.values());

  public AdapterConfig {
    if (r <= 0) {
      throw new BonestreamException("r must be positive, got " + r);
    }
    if (targets.isEmpty()) {
      throw new BonestreamException("no target modules given");
    }
    targets = List.copyOf(EnumSet.copyOf(targets)); // canonical order, no duplicates
    if (!(loraAlpha > 0)) {
      throw new BonestreamException("lora alpha must be positive, got " + loraAlpha);
    }
    if (miniR <= 0) {
      throw new BonestreamException("mini_r must be positive, got " + miniR);
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  public List<String> targetModuleNames() {
    List<String> names = new ArrayList<>();
    for (Projection p : targets) {
      names.add(p.moduleName());
    }
    return names;
  }

  /** Builder with the defaults: bat, r = 8, all seven projections, alpha = r. */
  public static final class Builder {
    private AdapterMethod method = AdapterMethod.BAT;
    private int r = 8;
    private List<Projection> targets = ALL_TARGETS;
    private Double loraAlpha;
    private int miniR = 1;

    public Builder method(AdapterMethod method) {
      this.method = method;
      return this;
    }

    public Builder r(int r) {
      this.r = r;
      return this;
    }

    public Builder targets(Collection<Projection> targets) {
      this.targets = List.copyOf(targets);
      return this;
    }

    /** Targets by module name, e.g. {@code q_proj}; an unknown name is an error. */
    public Builder targetModules(Collection<String> names) {
      List<Projection> t = new ArrayList<>();
      for (String n : names) {
        t.add(Projection.fromModuleName(n.trim()));
      }
      this.targets = t;
      return this;
    }

    public Builder loraAlpha(double alpha) {
      this.loraAlpha = alpha;
      return this;
    }

    /** mini's block width along the outputs (PEFT's {@code mini_r}, default 1); it must divide every target's out_features. */
    public Builder miniR(int miniR) {
      this.miniR = miniR;
      return this;
    }

    public AdapterConfig build() {
      return new AdapterConfig(method, r, targets, loraAlpha == null ? r : loraAlpha, miniR);
    }
  }
}
