package io.bonestream.serve;

import io.bonestream.engine.adapters.AdapterSet;
import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.peft.PeftImporter;
import io.bonestream.subscriber.AdapterVersion;

/**
 * A subscriber's adapter version on the engine's ND4J model, to generate with: the subscriber
 * holds plain arrays only, generation needs ND4J.
 */
public final class AdapterModels {
  private AdapterModels() {}

  /** The version's adapters on {@code base} (which must be the model the version was verified against). */
  public static AdapterSet adapters(AdapterVersion v, BaseModel base) {
    if (!base.fingerprint().equals(v.base().fingerprint())) {
      throw new IllegalArgumentException(v.name() + " was verified against another base model than " + base.name());
    }
    return PeftImporter.build(v.adapter(), base, v.name());
  }

  /** {@code base} with the version merged into its weights: a new copy of the targeted weights. */
  public static BaseModel merged(AdapterVersion v, BaseModel base) {
    return adapters(v, base).mergedInto(base);
  }
}
