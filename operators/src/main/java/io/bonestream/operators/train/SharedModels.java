package io.bonestream.operators.train;

import io.bonestream.engine.model.BaseModel;
import io.bonestream.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The frozen base models and tokenizers of this JVM (a Flink TaskManager), loaded once per model
 * folder and shared by every subtask and adapter. Reference-counted: the last {@link #release}
 * drops it. Never part of Flink state or checkpoints.
 */
public final class SharedModels {
  /** A model and its tokenizer. */
  public record Loaded(BaseModel model, Tokenizer tokenizer) {}

  private static final class Entry {
    final Loaded loaded;
    int references;

    Entry(Loaded loaded) {
      this.loaded = loaded;
    }
  }

  private static final Map<Path, Entry> MODELS = new HashMap<>();

  private SharedModels() {}

  /** The model of {@code dir}, loading it on first use; pair every call with {@link #release}. */
  public static synchronized Loaded acquire(Path dir) {
    Path key = dir.toAbsolutePath().normalize();
    Entry e = MODELS.get(key);
    if (e == null) {
      BaseModel model = BaseModel.load(key);
      e = new Entry(new Loaded(model, Tokenizer.load(key, model.config())));
      MODELS.put(key, e);
    }
    e.references++;
    return e.loaded;
  }

  public static synchronized void release(Path dir) {
    Path key = dir.toAbsolutePath().normalize();
    Entry e = MODELS.get(key);
    if (e != null && --e.references == 0) {
      MODELS.remove(key);
      e.loaded.tokenizer().close();
    }
  }

  /** How many model folders are loaded in this JVM now. */
  public static synchronized int loadedCount() {
    return MODELS.size();
  }

  /** How many holders share the model of {@code dir} now (0 when it is not loaded). */
  public static synchronized int references(Path dir) {
    Entry e = MODELS.get(dir.toAbsolutePath().normalize());
    return e == null ? 0 : e.references;
  }
}
