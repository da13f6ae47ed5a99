package io.bonestream.operators;

import java.util.Arrays;
import java.util.List;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;

/**
 * A request to every adapter the job holds ({@code "adapter_id": "*"} on the control topic), delivered
 * through the trainer's keyed input: the request travels as one copy per key group, each under a
 * reserved key ({@code *<max parallelism>/<n>}, never a valid adapter id) that falls in that group, so
 * that each training subtask receives one copy for each key group it owns and applies it to the adapters
 * of that group, each adapter once, in the same order as the control topic's other requests. The copies
 * are made for the trainer's max parallelism; a copy made for another is refused, not applied twice or
 * to some adapters only.
 */
public final class EveryAdapter {
  /** The control record's adapter id that names every adapter. */
  public static final String ID = "*";

  private EveryAdapter() {}

  /** One reserved key per key group of {@code maxParallelism}: the i-th falls in key group i. */
  public static List<String> keys(int maxParallelism) {
    if (maxParallelism < 1) {
      throw new IllegalArgumentException("max parallelism " + maxParallelism);
    }
    String[] byGroup = new String[maxParallelism];
    int found = 0;
    for (long n = 0; found < maxParallelism; n++) {
      String key = "*" + maxParallelism + "/" + n;
      int group = KeyGroupRangeAssignment.assignToKeyGroup(key, maxParallelism);
      if (byGroup[group] == null) {
        byGroup[group] = key;
        found++;
      }
    }
    return List.copyOf(Arrays.asList(byGroup));
  }

  /** Whether {@code key} is one of the reserved keys (adapter ids never start with '*'). */
  public static boolean isKey(String key) {
    return key.startsWith("*");
  }

  /** The max parallelism a reserved key was made for (-1 for a key that is not one). */
  public static int maxParallelism(String key) {
    int slash = key.indexOf('/');
    if (!isKey(key) || slash < 2) {
      return -1;
    }
    try {
      return Integer.parseInt(key.substring(1, slash));
    } catch (NumberFormatException e) {
      return -1;
    }
  }
}
