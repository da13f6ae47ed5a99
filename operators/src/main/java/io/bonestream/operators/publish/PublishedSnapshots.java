package io.bonestream.operators.publish;

import io.bonestream.schemas.AdapterSnapshot;
import java.io.Serializable;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * What the adapters topic already holds, as the training operator reads it when it starts: the
 * newest trusted version of each of its adapters, and the manifest there. {@link PublishedVersions}
 * reads it from Kafka.
 */
public interface PublishedSnapshots extends Serializable {
  /** Where the newest manifest of an adapter lies. */
  record Ref(long version, int partition, long offset) {}

  /**
   * For each adapter id that {@code owned} accepts, where its highest version that {@code check}
   * accepts lies ({@link NewestVersions}); every other manifest of an owned id goes to
   * {@code refused} with its reason.
   */
  Map<String, Ref> scan(Predicate<String> owned, ReadBackCheck check,
      BiConsumer<String, ReadBackCheck.Refusal> refused);

  /** The manifest at {@code ref}. */
  AdapterSnapshot fetch(Ref ref);
}
