package io.bonestream.engine.model;

import io.bonestream.core.model.Projection;
import org.jspecify.annotations.Nullable;

/** The overrides of a model's projections, by layer and projection (an adapter set). */
public interface ProjectionOverrides {
  /** The override of projection {@code p} of layer {@code layer}, or null for the frozen layer itself. */
  @Nullable LinearOverride adapter(int layer, Projection p);
}
