package io.bonestream.operators;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.bonestream.schemas.AdapterIds;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.junit.jupiter.api.Test;

/** The reserved keys of a request to every adapter: one per key group, each in its group, none an adapter id. */
class EveryAdapterTest {
  @Test
  void oneReservedKeyFallsInEachKeyGroupAndNoneIsAnAdapterId() {
    for (int maxParallelism : new int[] {1, 7, 128, 1024}) {
      List<String> keys = EveryAdapter.keys(maxParallelism);
      assertEquals(maxParallelism, keys.size());
      assertEquals(IntStream.range(0, maxParallelism).boxed().toList(),
          keys.stream().map(k -> KeyGroupRangeAssignment.assignToKeyGroup(k, maxParallelism)).toList());
      for (String k : keys) {
        assertTrue(EveryAdapter.isKey(k), k);
        assertFalse(AdapterIds.isValid(k), k);
        assertEquals(maxParallelism, EveryAdapter.maxParallelism(k), k);
      }
    }
    assertFalse(EveryAdapter.isKey("colors"));
    assertEquals(-1, EveryAdapter.maxParallelism("colors"));
    assertEquals(-1, EveryAdapter.maxParallelism(EveryAdapter.ID));
    assertEquals(-1, EveryAdapter.maxParallelism("*x/1"));
  }
}
