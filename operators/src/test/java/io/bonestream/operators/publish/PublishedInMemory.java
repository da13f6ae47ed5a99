package io.bonestream.operators.publish;

import io.bonestream.operators.EncodedRecord;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.AdapterSnapshots;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * An adapters topic of one partition in memory, holding the manifests an operator emitted: what a
 * restarted operator reads back in place of Kafka, through the same {@link NewestVersions}.
 */
public final class PublishedInMemory implements PublishedSnapshots {
  private static final long serialVersionUID = 1L;
  private final List<byte[]> keys = new ArrayList<>();
  private final List<byte[]> values = new ArrayList<>();

  public PublishedInMemory(List<EncodedRecord> manifests) {
    for (EncodedRecord r : manifests) {
      keys.add(r.key);
      values.add(r.value);
    }
  }

  @Override
  public Map<String, Ref> scan(Predicate<String> owned, ReadBackCheck check,
      BiConsumer<String, ReadBackCheck.Refusal> refused) {
    NewestVersions newest = new NewestVersions(owned, check, refused);
    for (int i = 0; i < values.size(); i++) {
      newest.offer(keys.get(i), values.get(i), 0, i);
    }
    return newest.newest();
  }

  @Override
  public AdapterSnapshot fetch(Ref ref) {
    try {
      return AdapterSnapshots.decode(values.get((int) ref.offset()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
