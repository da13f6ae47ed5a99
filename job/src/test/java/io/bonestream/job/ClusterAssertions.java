package io.bonestream.job;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.bonestream.core.util.Hashes;
import io.bonestream.schemas.AdapterSnapshot;
import io.bonestream.schemas.ClaimCheck;
import io.bonestream.schemas.DeadLetter;
import io.bonestream.schemas.OffsetRange;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.LongStream;

/**
 * What a run under faults must show against an uninterrupted run of the same input: the same
 * versions per adapter (1..N, none twice), each the same manifest byte for byte but for its
 * creation time and its blob's location (inline adapter bytes equal; a claim check's blob has
 * the right SHA-256 and the same bytes), every record trained exactly once or dead-lettered once.
 */
final class ClusterAssertions {
  private ClusterAssertions() {}

  /** What a run published, as its read_committed consumers saw it, and where its blobs are. */
  record RunOutput(String name, List<AdapterSnapshot> manifests, List<DeadLetter> deadLetters, Path blobs) {}

  /** Checks a run on its own: versions, lineage, dead letters, blobs. */
  static void assertComplete(ClusterInput input, RunOutput run) {
    List<AdapterSnapshot> seen = run.manifests();
    Set<String> ids = new HashSet<>();
    for (AdapterSnapshot s : seen) {
      assertTrue(ids.add(s.getAdapterId() + "@" + s.getVersion()),
          run.name() + ": a read_committed consumer saw " + s.getAdapterId() + "@" + s.getVersion() + " twice");
    }
    for (String adapter : input.adapters()) {
      List<AdapterSnapshot> mine = seen.stream().filter(s -> s.getAdapterId().equals(adapter)).toList();
      assertEquals(LongStream.rangeClosed(1, input.versionsOf(adapter)).boxed().toList(),
          mine.stream().map(AdapterSnapshot::getVersion).toList(), run.name() + ": " + adapter + "'s versions");
      assertEquals(input.good.get(adapter), trainedOffsets(input, adapter, mine),
          run.name() + ": " + adapter + "'s lineage must cover each of its records once");
      for (AdapterSnapshot s : mine) {
        if (s.getPayload() instanceof ClaimCheck c) {
          byte[] blob = blob(c);
          assertEquals(c.getSize(), blob.length, run.name() + ": " + adapter + "@" + s.getVersion() + " blob size");
          assertEquals(c.getSha256(), Hashes.sha256Hex(blob), run.name() + ": " + adapter + "@" + s.getVersion()
              + " blob SHA-256");
        }
      }
    }
    List<DeadLetter> letters = run.deadLetters();
    Map<String, Set<ClusterInput.Offset>> lettered = new TreeMap<>();
    for (DeadLetter d : letters) {
      assertEquals("EMPTY_RESPONSE", d.getErrorCode(), d.getErrorMessage());
      String adapter = new String(toBytes(d.getOriginalKey()), java.nio.charset.StandardCharsets.UTF_8);
      lettered.computeIfAbsent(adapter, k -> new TreeSet<>()).add(new ClusterInput.Offset(d.getPartition(), d.getOffset()));
    }
    assertEquals(input.badCount(), letters.size(), run.name() + ": every broken record dead-lettered once");
    assertEquals(input.bad, lettered, run.name() + ": the dead letters are the broken records");
  }

  /**
   * The offsets the versions' lineage covers; fails when a range holds a record twice (in two
   * versions) or a record that is not this adapter's.
   */
  private static Set<ClusterInput.Offset> trainedOffsets(ClusterInput input, String adapter,
      List<AdapterSnapshot> versions) {
    Set<ClusterInput.Offset> covered = new TreeSet<>();
    for (AdapterSnapshot s : versions) {
      for (OffsetRange r : s.getLineage()) {
        assertEquals(input.topic, r.getTopic());
        List<ClusterInput.Offset> inRange = input.good.get(adapter).stream()
            .filter(o -> o.partition() == r.getPartition() && o.offset() >= r.getFirstOffset()
                && o.offset() <= r.getLastOffset()).toList();
        assertEquals(r.getRecords(), inRange.size(), adapter + "@" + s.getVersion() + ": " + r);
        for (ClusterInput.Offset o : inRange) {
          if (!covered.add(o)) {
            fail(adapter + ": record " + o + " trained into two versions");
          }
        }
      }
    }
    return covered;
  }

  /** Checks that {@code run} published exactly what {@code baseline} did. */
  static void assertSameAs(RunOutput baseline, RunOutput run) {
    Map<String, AdapterSnapshot> expected = byId(baseline.manifests());
    Map<String, AdapterSnapshot> actual = byId(run.manifests());
    assertEquals(expected.keySet(), actual.keySet(), run.name() + ": versions differ from " + baseline.name());
    int claimChecks = 0;
    for (String id : expected.keySet()) {
      AdapterSnapshot e = expected.get(id);
      AdapterSnapshot a = actual.get(id);
      if (e.getPayload() instanceof ClaimCheck ec) {
        claimChecks++;
        ClaimCheck ac = (ClaimCheck) a.getPayload();
        assertArrayEquals(blob(ec), blob(ac), run.name() + ": " + id + " blob bytes");
      }
      assertEquals(comparable(e, baseline), comparable(a, run), run.name() + ": " + id + " differs from " + baseline.name());
    }
    assertTrue(claimChecks > 0, "the input has no adapter over the inline limit");
  }

  /** The manifest without what must differ between runs: its creation time, its blob's folder. */
  private static AdapterSnapshot comparable(AdapterSnapshot s, RunOutput run) {
    AdapterSnapshot.Builder b = AdapterSnapshot.newBuilder(s).setCreatedAt(Instant.EPOCH);
    if (s.getPayload() instanceof ClaimCheck c) {
      String relative = run.blobs().relativize(Path.of(URI.create(c.getUri()))).toString();
      b.setPayload(ClaimCheck.newBuilder(c).setUri(relative).build());
    }
    return b.build();
  }

  private static Map<String, AdapterSnapshot> byId(List<AdapterSnapshot> s) {
    return s.stream().collect(Collectors.toMap(x -> x.getAdapterId() + "@" + x.getVersion(), x -> x,
        (x, y) -> x, TreeMap::new));
  }

  private static byte[] blob(ClaimCheck c) {
    try {
      return Files.readAllBytes(Path.of(URI.create(c.getUri())).resolve("adapter_model.safetensors"));
    } catch (IOException e) {
      throw new UncheckedIOException("claim check " + c.getUri() + " does not resolve", e);
    }
  }

  private static byte[] toBytes(java.nio.ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }

  /** For failure messages: each adapter's versions as seen. */
  static String summary(List<AdapterSnapshot> s) {
    Map<String, List<Long>> m = new TreeMap<>();
    s.forEach(x -> m.computeIfAbsent(x.getAdapterId(), k -> new ArrayList<>()).add(x.getVersion()));
    return m.toString();
  }
}
