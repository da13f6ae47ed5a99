package io.bonestream.operators.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The replay reservoir: bounded in examples and bytes, a uniform sample (against reservoir
 * sampling's k/n), the same after a restore as without, and erasure by example id.
 */
class ReplayReservoirTest {
  private static ReplayReservoir.Entry example(int i, int tokens) {
    int[] ids = new int[tokens];
    java.util.Arrays.fill(ids, i);
    return new ReplayReservoir.Entry("e" + i, "u" + (i % 3), ids, ids.clone(), 1f);
  }

  private static List<String> ids(ReplayReservoir r) {
    return r.entries().stream().map(ReplayReservoir.Entry::exampleId).toList();
  }

  @Test
  void changedLimitsApplyToARestoredReservoir() {
    ReplayReservoir r = new ReplayReservoir(100, 1 << 20, 5);
    for (int i = 0; i < 1_000; i++) {
      r.offer(example(i, 8));
    }
    ReplayReservoir restored = ReplayReservoir.fromBytes(r.toBytes());
    assertSame(restored, restored.withLimits(100, 1 << 20), "unchanged limits");
    // smaller: the first 40 kept examples stay, in their slots; the sequence goes on
    ReplayReservoir smaller = restored.withLimits(40, 1 << 20);
    assertEquals(40, smaller.size());
    assertEquals(ids(r).subList(0, 40), ids(smaller));
    assertEquals(1_000, smaller.offered());
    assertEquals(smaller.entries().stream().mapToLong(ReplayReservoir.Entry::bytes).sum(), smaller.bytes());
    // fewer bytes: examples go from the last until they fit
    long each = example(0, 8).bytes();
    ReplayReservoir tight = restored.withLimits(100, 10 * each + each / 2);
    assertEquals(ids(r).subList(0, 10), ids(tight));
    assertTrue(tight.bytes() <= 10 * each + each / 2);
    // larger: the kept ones stay, the next examples fill the new room, then at most the new capacity
    ReplayReservoir larger = restored.withLimits(150, 1 << 20);
    assertEquals(ids(r), ids(larger));
    for (int i = 1_000; i < 1_050; i++) {
      larger.offer(example(i, 8));
    }
    assertEquals(150, larger.size());
    for (int i = 1_050; i < 3_000; i++) {
      larger.offer(example(i, 8));
      assertTrue(larger.size() <= 150);
    }
    assertEquals(150, ReplayReservoir.fromBytes(larger.toBytes()).capacity());
  }

  @Test
  void boundedInExamplesAndBytes() {
    ReplayReservoir r = new ReplayReservoir(50, 1 << 20, 1);
    for (int i = 0; i < 10_000; i++) {
      r.offer(example(i, 8));
      assertTrue(r.size() <= 50);
    }
    assertEquals(50, r.size());
    ReplayReservoir small = new ReplayReservoir(1000, 2_000, 1);
    for (int i = 0; i < 10_000; i++) {
      small.offer(example(i, 8 + i % 40));
      assertTrue(small.bytes() <= 2_000, "bytes " + small.bytes());
    }
    assertEquals(small.entries().stream().mapToLong(ReplayReservoir.Entry::bytes).sum(), small.bytes());
  }

  @Test
  void eachExampleIsKeptWithProbabilityCapacityOverN() {
    // over 400 seeds, how often example i of 2,000 ends in a 100-slot reservoir: 100/2000 = 5% each;
    // the first and the last quarter alike (a reservoir that favoured the recent would fail here)
    int seeds = 400;
    int n = 2000;
    long firstQuarter = 0;
    long lastQuarter = 0;
    for (int s = 0; s < seeds; s++) {
      ReplayReservoir r = new ReplayReservoir(100, 1 << 24, s);
      for (int i = 0; i < n; i++) {
        r.offer(example(i, 2));
      }
      for (ReplayReservoir.Entry e : r.entries()) {
        int i = Integer.parseInt(e.exampleId().substring(1));
        firstQuarter += i < n / 4 ? 1 : 0;
        lastQuarter += i >= 3 * n / 4 ? 1 : 0;
      }
    }
    double expected = seeds * 100 / 4.0; // 10,000 of the 40,000 kept
    // a binomial spread of about 87; 5 sigmas
    assertEquals(expected, firstQuarter, 450, "first quarter");
    assertEquals(expected, lastQuarter, 450, "last quarter");
  }

  @Test
  void aRestoredReservoirKeepsAndReplaysAsOneThatNeverStopped() {
    ReplayReservoir straight = new ReplayReservoir(64, 1 << 20, 42);
    ReplayReservoir restored = new ReplayReservoir(64, 1 << 20, 42);
    for (int i = 0; i < 3000; i++) {
      straight.offer(example(i, 4 + i % 7));
      restored.offer(example(i, 4 + i % 7));
      if (i % 97 == 0) {
        restored = ReplayReservoir.fromBytes(restored.toBytes());
      }
    }
    assertEquals(ids(straight), ids(restored));
    assertEquals(straight.bytes(), restored.bytes());
    for (long step = 0; step < 20; step++) {
      List<ReplayReservoir.Entry> a = straight.replays(4, step);
      List<ReplayReservoir.Entry> b = restored.replays(4, step);
      assertEquals(a.stream().map(ReplayReservoir.Entry::exampleId).toList(),
          b.stream().map(ReplayReservoir.Entry::exampleId).toList());
      assertArrayEquals(a.get(0).inputIds(), b.get(0).inputIds());
    }
    // another seed keeps another sample
    ReplayReservoir other = new ReplayReservoir(64, 1 << 20, 43);
    for (int i = 0; i < 3000; i++) {
      other.offer(example(i, 4 + i % 7));
    }
    assertTrue(!ids(other).equals(ids(straight)));
  }

  @Test
  void erasureRemovesByExampleIdAndFreesItsBytes() {
    ReplayReservoir r = new ReplayReservoir(10, 1 << 20, 3);
    for (int i = 0; i < 10; i++) {
      r.offer(example(i, 5));
    }
    long before = r.bytes();
    assertEquals(2, r.remove(e -> e.exampleId().equals("e3") || e.exampleId().equals("e7")));
    assertEquals(8, r.size());
    assertTrue(!ids(r).contains("e3") && !ids(r).contains("e7"));
    assertEquals(before - 2 * example(3, 5).bytes(), r.bytes());
    assertEquals(List.of(), new ReplayReservoir(4, 100, 1).replays(3, 0));
  }

  @Test
  void theIdScanOfAnEncodedReservoirFindsWhatItsDecodedEntriesHold() {
    ReplayReservoir r = new ReplayReservoir(40, 1 << 20, 9);
    for (int i = 0; i < 200; i++) {
      int len = 1 + i % 13; // entries of other lengths: the scan must skip each one's tokens exactly
      r.offer(new ReplayReservoir.Entry("e" + i, i % 3 == 0 ? "" : "u" + i % 7, new int[len], new int[len], 1f));
    }
    byte[] encoded = r.toBytes();
    java.util.Set<String> examples = new java.util.HashSet<>();
    java.util.Set<String> users = new java.util.HashSet<>();
    for (ReplayReservoir.Entry e : ReplayReservoir.fromBytes(encoded).entries()) {
      examples.add(e.exampleId());
      users.add(e.userId());
    }
    for (int i = 0; i < 200; i++) {
      String id = "e" + i;
      assertEquals(examples.contains(id), ReplayReservoir.keepsAny(encoded, e -> e.exampleId().equals(id)), id);
    }
    for (int u = 0; u < 9; u++) {
      String user = "u" + u;
      assertEquals(users.contains(user), ReplayReservoir.keepsAny(encoded, e -> e.userId().equals(user)), user);
    }
    assertTrue(!ReplayReservoir.keepsAny(new ReplayReservoir(4, 100, 1).toBytes(), e -> true), "an empty reservoir");
  }
}
