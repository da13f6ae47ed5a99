package io.bonestream.job.cluster;

import io.bonestream.core.BonestreamException;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * How to run an uploaded jar ({@code POST /jars/:id/run}): program arguments, and optionally the
 * default parallelism, a savepoint or retained checkpoint to restore, and an entry class other than
 * the jar's {@code Main-Class}.
 */
public record JarRun(List<String> programArgs, @Nullable Integer parallelism,
    @Nullable String savepointPath, boolean allowNonRestoredState, @Nullable String entryClass) {

  public static Builder builder() {
    return new Builder();
  }

  /** Settings of a run; {@link #build()} validates them. */
  public static final class Builder {
    private final List<String> programArgs = new ArrayList<>();
    private @Nullable Integer parallelism;
    private @Nullable String savepointPath;
    private boolean allowNonRestoredState;
    private @Nullable String entryClass;

    public Builder programArgs(String... v) { programArgs.addAll(List.of(v)); return this; }
    public Builder parallelism(int v) { parallelism = v; return this; }
    /** A savepoint or retained checkpoint (its folder or its _metadata file) to start from. */
    public Builder savepointPath(@Nullable String v) { savepointPath = v; return this; }
    /** Lets the job start when the savepoint holds state of operators the job no longer has. */
    public Builder allowNonRestoredState(boolean v) { allowNonRestoredState = v; return this; }
    public Builder entryClass(@Nullable String v) { entryClass = v; return this; }

    public JarRun build() {
      if (parallelism != null && parallelism < 1) {
        throw new BonestreamException("parallelism must be ≥ 1, got " + parallelism);
      }
      if (savepointPath != null && savepointPath.isBlank()) {
        throw new BonestreamException("the savepoint path is empty");
      }
      return new JarRun(List.copyOf(programArgs), parallelism, savepointPath, allowNonRestoredState,
          entryClass);
    }
  }
}
