package io.bonestream.subscriber;

import io.bonestream.core.adapters.AdapterConfig;
import io.bonestream.core.adapters.AdapterLayout;
import io.bonestream.core.model.HostModel;
import io.bonestream.core.model.HostTensor;
import io.bonestream.core.peft.PeftAdapter;
import io.bonestream.core.peft.PeftExport;
import io.bonestream.core.peft.PeftFormat;
import io.bonestream.core.util.Rng;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;

/** The project's real model (models/stories260K) and adapters with random values on it, without the engine. */
final class TestModels {
  static final HostModel BASE = HostModel.load(stories260K());

  private TestModels() {}

  static Path stories260K() {
    for (Path dir = Paths.get("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isDirectory(dir.resolve("models/stories260K"))) {
        return dir.resolve("models/stories260K");
      }
    }
    throw new IllegalStateException("no models/stories260K above " + Paths.get("").toAbsolutePath());
  }

  /** An adapter of {@code config} on {@link #BASE} with values uniform in ±0.05, drawn from {@code seed}. */
  static PeftAdapter adapter(AdapterConfig config, long seed) {
    Rng rng = new Rng(seed);
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    for (AdapterLayout.Site s : AdapterLayout.of(BASE.config(), config).sites()) {
      for (AdapterLayout.Tensor t : s.tensors()) {
        float[] v = new float[Math.toIntExact(t.length())];
        for (int i = 0; i < v.length; i++) {
          v[i] = (float) ((rng.nextDouble() - 0.5) * 0.1);
        }
        tensors.put(PeftAdapter.key(s, t.suffix()), HostTensor.of(v, t.shape()));
      }
    }
    return PeftAdapter.of(config, BASE.config(), tensors, "a test adapter");
  }

  /** The two PEFT files (MiSS) of {@link #adapter}. */
  static PeftExport.AdapterFiles files(AdapterConfig config, long seed) {
    return PeftExport.render(adapter(config, seed), BASE, PeftFormat.MISS, 0);
  }
}
