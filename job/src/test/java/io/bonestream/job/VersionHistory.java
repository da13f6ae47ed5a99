package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.bonestream.operators.publish.BlobStore;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.InlineAdapter;
import io.bonestream.schemas.OffsetRange;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.LongStream;

/**
 * The versions an adapters topic holds, per adapter, and the comparison of an interrupted run with
 * an uninterrupted one: the same versions 1..N, each once, with identical adapter bytes (inline, or
 * the claim check's blob, read and checked against its SHA-256) and identical lineage (so every
 * record was trained exactly once, into the same version).
 */
final class VersionHistory {
  private VersionHistory() {}

  static Map<String, List<AdapterSnapshot>> byAdapter(List<AdapterSnapshot> manifests) {
    Map<String, List<AdapterSnapshot>> out = new TreeMap<>();
    for (AdapterSnapshot m : manifests) {
      out.computeIfAbsent(m.getAdapterId(), k -> new ArrayList<>()).add(m);
    }
    return out;
  }

  /** The adapter's safetensors bytes, from the manifest or from the blob it points at. */
  static byte[] adapterBytes(AdapterSnapshot m) {
    if (m.getPayload() instanceof InlineAdapter in) {
      byte[] b = new byte[in.getAdapterModelSafetensors().remaining()];
      in.getAdapterModelSafetensors().duplicate().get(b);
      return b;
    }
    return BlobStore.read((ClaimCheck) m.getPayload()).weights();
  }

  /** (partition, first, last, records) of each range: topic names differ between runs. */
  static List<List<Long>> lineage(AdapterSnapshot m) {
    List<List<Long>> out = new ArrayList<>();
    for (OffsetRange r : m.getLineage()) {
      out.add(List.of((long) r.getPartition(), r.getFirstOffset(), r.getLastOffset(), r.getRecords()));
    }
    return out;
  }

  /**
   * {@code actual} holds exactly what {@code expected} (an uninterrupted run) holds: per adapter
   * versions 1..N in order, each once, no resumption, equal bytes and lineage.
   */
  static void assertSame(List<AdapterSnapshot> expected, List<AdapterSnapshot> actual, String context) {
    Map<String, List<AdapterSnapshot>> want = byAdapter(expected);
    Map<String, List<AdapterSnapshot>> got = byAdapter(actual);
    assertEquals(want.keySet(), got.keySet(), "adapters\n" + context);
    for (String id : want.keySet()) {
      List<AdapterSnapshot> w = want.get(id);
      List<AdapterSnapshot> g = got.get(id);
      List<Long> versions = g.stream().map(AdapterSnapshot::getVersion).toList();
      assertEquals(LongStream.rangeClosed(1, w.size()).boxed().toList(), versions,
          id + ": versions seen by a read_committed consumer\n" + context);
      for (int i = 0; i < w.size(); i++) {
        String v = id + "@" + (i + 1);
        assertArrayEquals(adapterBytes(w.get(i)), adapterBytes(g.get(i)), v + ": adapter bytes\n" + context);
        assertEquals(lineage(w.get(i)), lineage(g.get(i)), v + ": lineage\n" + context);
        assertEquals(w.get(i).getStats().getStep(), g.get(i).getStats().getStep(), v + ": step");
        assertNull(g.get(i).getResumedFrom(), v + ": resumed from elsewhere\n" + context);
      }
    }
  }
}
