package io.bonestream.operators.publish;

import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Which published version counts, record by record as the adapters topic is read back: per owned
 * adapter, the highest version among the manifests {@link ReadBackCheck} accepts. A manifest that
 * does not decode or is refused goes to {@code refused} and neither numbers versions nor is
 * continued from; records of adapters another subtask owns are skipped.
 */
public final class NewestVersions {
  private final Predicate<String> owned;
  private final ReadBackCheck check;
  private final BiConsumer<String, ReadBackCheck.Refusal> refused;
  private final Map<String, PublishedSnapshots.Ref> newest = new HashMap<>();

  public NewestVersions(Predicate<String> owned, ReadBackCheck check,
      BiConsumer<String, ReadBackCheck.Refusal> refused) {
    this.owned = owned;
    this.check = check;
    this.refused = refused;
  }

  /** One record of the adapters topic, at {@code partition}/{@code offset}. */
  public void offer(byte @Nullable [] key, byte @Nullable [] value, int partition, long offset) {
    if (key == null || value == null) {
      return;
    }
    String id = new String(key, StandardCharsets.UTF_8);
    if (!owned.test(id)) {
      return;
    }
    AdapterSnapshot m;
    try {
      m = AdapterSnapshots.decode(value);
    } catch (IOException | RuntimeException e) {
      refused.accept(id, ReadBackCheck.Refusal.UNDECODABLE);
      return;
    }
    ReadBackCheck.Refusal refusal = check.refusal(key, value, m);
    if (refusal != null) {
      refused.accept(id, refusal);
      return;
    }
    PublishedSnapshots.Ref known = newest.get(id);
    if (known == null || m.getVersion() > known.version()) {
      newest.put(id, new PublishedSnapshots.Ref(m.getVersion(), partition, offset));
    }
  }

  /** Adapter id → where its newest accepted manifest lies. */
  public Map<String, PublishedSnapshots.Ref> newest() {
    return newest;
  }
}
